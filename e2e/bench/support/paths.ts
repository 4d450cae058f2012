import { tcpDial, type Dial } from './measure';
import { startOpenSshForwards } from './openssh';
import type { TargetPorts } from './targets';

/** A started path: one Dial per target service, and how to take the path down again. */
export interface StartedPath {
  dialEcho: Dial;
  dialSink: Dial;
  dialSource: Dial;
  /** Lines for the report (versions, cipher, what the delay applies to). */
  notes: string[];
  stop(): Promise<void>;
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
      dialEcho: tcpDial(targets.echo),
      dialSink: tcpDial(targets.sink),
      dialSource: tcpDial(targets.source),
      notes: [],
      stop: () => Promise.resolve(),
    }),
};

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
      return {
        dialEcho: tcpDial(echo),
        dialSink: tcpDial(sink),
        dialSource: tcpDial(source),
        notes: [
          `${ssh.version}; cipher ${ssh.cipher}; the three forwards share one SSH connection` +
            (options.delayMs ? `; ${options.delayMs} ms each way between ssh and sshd` : ''),
        ],
        stop: () => ssh.close(),
      };
    },
  };
}
