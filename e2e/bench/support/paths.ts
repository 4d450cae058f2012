import { tcpDial, type Dial } from './measure';
import { startOpenSshForwards } from './openssh';
import { startDelayProxyThread, type TargetPorts } from './targets';

/** A started path: one Dial per target service, and how to take the path down again. */
export interface StartedPath {
  dialEcho: Dial;
  dialSink: Dial;
  dialSource: Dial;
  /** Lines for the report (versions, cipher, what the delay applies to). */
  notes: string[];
  /** Where a path listens on this machine (ssh -L, the CLI), so that stock tools can use it too; in TargetPorts order. */
  localPorts?: TargetPorts;
  stop(): Promise<void>;
}

/** A Dial per target service, from one that dials a port. */
export function dialsTo(
  ports: TargetPorts,
  dial: (port: number) => Dial,
): Pick<StartedPath, 'dialEcho' | 'dialSink' | 'dialSource'> {
  return { dialEcho: dial(ports.echo), dialSink: dial(ports.sink), dialSource: dial(ports.source) };
}

/**
 * One way from the user to the target services that the tunnel benchmark measures. A new path (e.g. Grove's tunnel)
 * only has to start whatever carries the sessions and hand back a Dial per service.
 */
export interface BenchPath {
  /** The row's name in the report. */
  name: string;
  start(targets: TargetPorts): Promise<StartedPath>;
}

/** The baseline: the driver dials the target services directly (never delayed). */
export const rawTcpPath: BenchPath = {
  name: 'raw TCP',
  start: (targets) =>
    Promise.resolve({
      ...dialsTo(targets, (port) => tcpDial(port)),
      notes: [],
      stop: () => Promise.resolve(),
    }),
};

/**
 * Raw TCP through the delay proxy (one proxy thread per target service), delayed as the tunnel hop is: how much the
 * proxy itself lets through, so that a tunnel measured across it is known not to be capped by it. With no delay the
 * proxy still waits for a timer turn per batch of chunks (Node's 1 ms minimum), which shows in the round trips.
 */
export function rawTcpViaDelayProxyPath(options: { delayMs?: number } = {}): BenchPath {
  const delayMs = options.delayMs ?? 0;
  return {
    name: 'raw TCP via delay proxy',
    start: async (targets) => {
      const proxies: Array<{ port: number; close(): Promise<void> }> = [];
      const stop = async () => {
        await Promise.all(proxies.map((proxy) => proxy.close()));
      };
      try {
        for (const port of [targets.echo, targets.sink, targets.source]) {
          proxies.push(await startDelayProxyThread({ target: { host: '127.0.0.1', port }, delayMs }));
        }
      } catch (err) {
        await stop();
        throw err;
      }
      const [echo, sink, source] = proxies;
      return {
        ...dialsTo({ echo: echo.port, sink: sink.port, source: source.port }, (port) => tcpDial(port)),
        notes: [`one delay proxy thread per target, ${delayMs} ms each way`],
        stop,
      };
    },
  };
}

/**
 * OpenSSH `ssh -L`, one forward per service on one SSH connection to a private sshd; with `delayMs`, a delay proxy on
 * the ssh↔sshd hop (the hop that stands for Grove's worker↔controller link).
 */
export function openSshPath(options: { delayMs?: number; cipher?: string } = {}): BenchPath {
  return {
    name: 'OpenSSH ssh -L',
    start: async (targets) => {
      const ssh = await startOpenSshForwards({ ...options, targetPorts: [targets.echo, targets.sink, targets.source] });
      const [echo, sink, source] = ssh.localPorts;
      const localPorts = { echo, sink, source };
      return {
        ...dialsTo(localPorts, (port) => tcpDial(port)),
        localPorts,
        notes: [
          `${ssh.version}; cipher ${ssh.cipher}; the three forwards share one SSH connection` +
            (options.delayMs ? `; ${options.delayMs} ms each way between ssh and sshd` : ''),
        ],
        stop: () => ssh.close(),
      };
    },
  };
}
