import { type GroveClient, webSocketStream } from '@grove/client';
import type { Client as SshClient } from 'ssh2';
import type { WebSocket } from 'ws';
import type { Vm } from '@grove/resources';
import { CliError, describeError, EXIT_SSH_FAILURE } from '../cli.errors';
import { hostForUrl, resolveCredentials, vncUrl, type Credentials } from '../connect/credentials';
import { openUrl } from '../connect/open-url';
import { PortForwarder } from '../connect/port-forwarder';
import { FallbackTunnelOpener } from '../connect/tunnel-opener';
import type { PortSpec } from '../connect/port-spec';
import type * as SshSession from '../connect/ssh-session';
import {
  checkTarget,
  describeRemote,
  describeTarget,
  openTunnel,
  startTunnelStream,
  type Target,
  type TargetKind,
  type TunnelRemote,
} from '../connect/target';
import { onInterrupt, streamsOf, type CommandIo, type GlobalOptions } from './io';
import { withClient } from './session';

/**
 * The SSH client, loaded only by `grove ssh`: ssh2 takes ~60 ms to load, which `grove port-forward`, `vnc` and `ip`
 * (handled in this module too) would pay.
 */
function sshSession(): typeof SshSession {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberate lazy load, see above
  return require('../connect/ssh-session') as typeof SshSession;
}

/** The VNC port of macOS (Screen Sharing) and of Tart's VNC server. */
const VNC_PORT = 5900;

export interface PortForwardOptions extends GlobalOptions {
  wait: number;
  address: string;
  /** VMs only: forward to this instead of `spec.remote` (orchard-2026.md §1.2.4). */
  target?: 'tart-guest-agent';
  /** VMs only: forward to this host process instead of `spec.remote` (orchard-2026.md §1.2.3). */
  hostProcess?: string;
}

/** `grove port-forward vm|worker NAME [LOCAL:]REMOTE`: forwards until Ctrl-C. */
export async function portForward(
  io: CommandIo,
  kind: TargetKind,
  name: string,
  spec: PortSpec,
  options: PortForwardOptions,
): Promise<void> {
  const target: Target = { kind, name };
  const remote: TunnelRemote =
    options.hostProcess !== undefined
      ? { hostProcess: options.hostProcess }
      : options.target !== undefined
        ? { target: options.target }
        : { port: spec.remote };
  await withClient(io, options, async (client) => {
    const vm = await checkTarget(client, target);
    if (vm && options.hostProcess !== undefined) {
      checkHostProcess(vm, options.hostProcess);
    }
    const forwarder = await startForwarder(io, client, target, {
      host: options.address,
      port: spec.local,
      remote,
      wait: options.wait,
    });
    const { host, port } = forwarder.address;
    const to =
      'hostProcess' in remote
        ? `, host process "${remote.hostProcess}"`
        : `:${'port' in remote ? remote.port : remote.target}`;
    io.out(`Forwarding ${hostForUrl(host)}:${port} -> ${kind}/${name}${to}; press Ctrl-C to stop\n`);
    await interrupted(io);
    await forwarder.close();
  });
}

/**
 * A host process the VM does not declare fails at once, like a VM name with a typo, rather than on every connection
 * (the controller would answer 404 each time).
 */
function checkHostProcess(vm: Vm, name: string): void {
  const declared = (vm.hostProcesses ?? []).map((p) => `"${p.name}"`);
  if (!declared.includes(`"${name}"`)) {
    throw new CliError(
      `host process "${name}" is not declared on VM "${vm.name}" (${
        declared.length > 0 ? `it has ${declared.join(', ')}` : 'it has none'
      })`,
    );
  }
}

export interface VncOptions extends GlobalOptions {
  username?: string;
  password?: string;
  wait: number;
  open: boolean;
}

/** `grove vnc vm|worker NAME`: forwards a random local port to port 5900, prints and opens the vnc:// URL. */
export async function vnc(io: CommandIo, kind: TargetKind, name: string, options: VncOptions): Promise<void> {
  const target: Target = { kind, name };
  await withClient(io, options, async (client) => {
    const vm = await checkTarget(client, target);
    // A worker has no stored login: only what the flags give goes into the URL (the viewer asks for the rest).
    const login: Partial<Credentials> = kind === 'vm' ? resolveCredentials(options, vm) : options;
    const forwarder = await startForwarder(io, client, target, {
      host: '127.0.0.1',
      port: 0,
      remote: { port: VNC_PORT },
      wait: options.wait,
    });
    const { host, port } = forwarder.address;
    const url = vncUrl(host, port, login);
    io.out(`Forwarding ${host}:${port} -> ${kind}/${name}:${VNC_PORT}; press Ctrl-C to stop\n${url}\n`);
    if (options.open) {
      openUrl(url, io.env, (text) => io.err(`Warning: ${text}\n`));
    }
    await interrupted(io);
    await forwarder.close();
  });
}

/**
 * Listens and forwards each local connection through a tunnel of its own: a raw byte stream, or a WebSocket once the
 * controller turns out not to know the raw protocol (FallbackTunnelOpener). From then on one connection to the
 * controller is kept ready, so that a connection's tunnel does not wait for TCP and TLS handshakes.
 */
async function startForwarder(
  io: CommandIo,
  client: GroveClient,
  target: Target,
  options: { host: string; port: number; remote: TunnelRemote; wait: number },
): Promise<PortForwarder> {
  const tunnel = { ...options.remote, waitSeconds: options.wait };
  const opener = new FallbackTunnelOpener(
    {
      stream: (signal) => startTunnelStream(client, target, { ...tunnel, signal }),
      webSocket: (signal) => openTunnel(client, target, { ...tunnel, signal, halfClose: true }),
    },
    target.name,
  );
  const forwarder = await PortForwarder.listen({
    host: options.host,
    port: options.port,
    label: `${describeTarget(target)} ${describeRemote(options.remote)}`,
    openTunnel: (signal) => opener.open(signal),
    report: (line) => io.err(`${line}\n`),
  });
  client.keepConnectionReady();
  return forwarder;
}

/** Resolves on the first Ctrl-C (or SIGTERM); a second one gets the default behaviour again (exit at once). */
function interrupted(io: CommandIo): Promise<void> {
  return new Promise((resolve) => {
    const stop = onInterrupt(io, () => {
      stop();
      resolve();
    });
  });
}

export interface SshOptions extends GlobalOptions {
  username?: string;
  password?: string;
  tty?: boolean;
  wait: number;
}

/**
 * `grove ssh vm NAME [COMMAND...]`: SSH through a port-forward tunnel to the VM's port 22. Returns the remote exit
 * status; any failure to get there (unknown VM, tunnel, login) throws with exit code 255, as ssh does.
 */
export async function sshVm(io: CommandIo, name: string, words: string[], options: SshOptions): Promise<number> {
  const ssh = sshSession();
  const target: Target = { kind: 'vm', name };
  return withClient(io, options, async (client) => {
    const { session, ws, tunnelFailure } = await sshLogin(client, target, options).catch((err: unknown) => {
      throw new CliError(describeError(err), { cause: err, exitCode: EXIT_SSH_FAILURE });
    });
    /** Why the tunnel broke, as the controller said (the SSH side only sees a lost connection), if it did. */
    const broken = () => {
      const reason = tunnelFailure();
      return reason === undefined ? undefined : `the tunnel to ${describeTarget(target)} broke: ${reason}`;
    };
    try {
      const outcome = await ssh.runSshSession(session, {
        command: words.join(' '),
        forcePty: Boolean(options.tty),
        term: io.env['TERM'] || 'xterm-256color',
        streams: streamsOf(io),
      });
      if (outcome.problem !== undefined) {
        io.err(`Error: ${broken() ?? outcome.problem}\n`);
      }
      return outcome.exitCode;
    } catch (err) {
      // A tunnel that broke before the server's answer to the command fails the request: its reason is the message.
      throw new CliError(broken() ?? `cannot start the remote command: ${describeError(err)}`, {
        cause: err,
        exitCode: EXIT_SSH_FAILURE,
      });
    } finally {
      session.end();
      await closed(ws);
    }
  });
}

async function sshLogin(
  client: GroveClient,
  target: Target,
  options: SshOptions,
): Promise<{ session: SshClient; ws: WebSocket; tunnelFailure: () => string | undefined }> {
  const vm = await checkTarget(client, target);
  const login = resolveCredentials(options, vm);
  const ws = await openTunnel(client, target, { port: 22, waitSeconds: options.wait });
  // The controller closes the tunnel with 1011 and a reason when the worker cannot reach port 22 (or loses it); SSH
  // then only sees a lost connection, so that reason is the better message.
  let tunnelFailure: string | undefined;
  ws.once('close', (code: number, reason: Buffer) => {
    if (code !== 1000 && code !== 1005 && code !== 1006) {
      tunnelFailure = reason.length > 0 ? reason.toString('utf8') : `WebSocket close code ${code}`;
    }
  });
  try {
    const stream = webSocketStream(ws);
    // A socket whose far end is gone also closes (ssh2 cleans up its channels on 'close', not on 'end'); this stream
    // would stay writable after the tunnel closed, and the session would wait forever.
    stream.once('end', () => stream.destroy());
    const session = await sshSession().sshConnect(stream, login);
    return { session, ws, tunnelFailure: () => tunnelFailure };
  } catch (err) {
    await closed(ws, 1000);
    throw new Error(
      tunnelFailure !== undefined
        ? `cannot reach ${describeTarget(target)} port 22: ${tunnelFailure}`
        : `SSH login to ${describeTarget(target)} as "${login.username}" failed: ${describeError(err)}`,
      { cause: err },
    );
  }
}

/** Waits (briefly) for a tunnel's closing handshake, so the controller sees a clean end; then cuts it. */
function closed(ws: WebSocket, graceMs = 2000): Promise<void> {
  if (ws.readyState === ws.CLOSED) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), graceMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface IpOptions extends GlobalOptions {
  wait: number;
}

/** `grove ip vm NAME`: prints the VM's IP address as its worker sees it. */
export async function ipVm(io: CommandIo, name: string, options: IpOptions): Promise<void> {
  const ip = await withClient(io, options, (client) => client.vms.ip(name, { waitSeconds: options.wait }));
  io.out(`${ip}\n`);
}
