import { lookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { connect, type Socket } from 'node:net';
import type { Tracing } from '@grove/telemetry';
import { TUNNEL_OPENED, tunnelRefusal } from '@grove/client';
import { configureTunnelSocket, SocketSplice, TunnelEndpoint, type TunnelOutcome } from '@grove/tunnel';
import { unixSocketPath, type GuestAgentAddress } from '../runtime/vm-runtime';
import type { PortForwardOpenFrame, TunnelClientCall } from './tunnel-pool';

/** Give up connecting to a target after this long (a VM that is still booting, a filtered port). */
const CONNECT_TIMEOUT_MS = 30_000;

export interface TunnelServerOptions {
  /** Connects to a port of a running VM of this worker (VmRuntime.connect through the reconciler). */
  connectVm: (vmUid: string, port: number, signal: AbortSignal) => Promise<Socket>;
  /** Where a running VM's Tart guest agent answers (Reconciler.guestAgent); throws when the VM does not run here. */
  guestAgent: (vmUid: string) => GuestAgentAddress;
  /**
   * Connects to the socket of a host process of a VM of this worker (Reconciler.connectHostProcess), waiting while it
   * starts; throws `host process "x" is not running` when it does not run. Absent: this worker runs none.
   */
  connectHostProcess?: (vmUid: string, name: string, signal: AbortSignal) => Promise<Socket>;
  /** Smallest round trip to the controller, for flow-control auto-tuning. */
  minRttMs: () => number | undefined;
  log: (line: string) => void;
  /**
   * Spans of the sessions (`worker.port-forward`, with `worker.connect`), children of the controller's through the
   * open frame's `traceparent` (issue 14); absent when traces are not exported.
   */
  tracing?: Tracing;
}

/** How long the system's answer for `localhost` is reused. */
const LOCALHOST_LOOKUP_TTL_MS = 60_000;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * `dns.lookup` for the worker host's `localhost`, remembering successful answers for a minute. A lookup goes through
 * libuv's thread pool: about 60 µs on an idle machine but up to a millisecond on a busy one, a third of a worker
 * port-forward's setup (docs/benchmarks.md, "Tunnel session setup"), for an answer that does not change.
 */
export function createLocalhostLookup(
  resolve: typeof lookup = lookup,
  now: () => number = Date.now,
): (hostname: string, options: LookupOptions, callback: LookupCallback) => void {
  const answers = new Map<string, { until: number; address: string | LookupAddress[]; family?: number }>();
  return (hostname, options, callback) => {
    // `net` asks with different options depending on the family and happy-eyeballs settings: one answer per question.
    const key = `${hostname} ${options.family ?? 0} ${options.hints ?? 0} ${options.all === true}`;
    const known = answers.get(key);
    if (known && known.until > now()) {
      process.nextTick(callback, null, known.address, known.family);
      return;
    }
    resolve(hostname, options, (err, address, family) => {
      if (!err) {
        answers.set(key, { until: now() + LOCALHOST_LOOKUP_TTL_MS, address, family });
      }
      callback(err, address, family);
    });
  };
}

const localhostLookup = createLocalhostLookup();

/** Connects to `localhost:port` on the worker host (worker port-forward, e.g. its screen on 5900). */
function connectHost(port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: 'localhost', port, noDelay: true, allowHalfOpen: true, lookup: localhostLookup });
    const onAbort = () => socket.destroy(new Error('cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new Error(`cannot connect to port ${port} of the worker host: ${err.message}`));
    });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/**
 * Connects to a VM's Tart guest agent (orchard-2026.md §1.2.4): a plain stream connection to its control socket, which
 * `tart run` relays to the agent's vsock port (tart.md §4.1), so the tunnel carries the client's gRPC unchanged.
 */
function connectGuestAgent(address: GuestAgentAddress, vmUid: string, signal: AbortSignal): Promise<Socket> {
  const path = unixSocketPath(address.target);
  if (path === undefined) {
    return Promise.reject(new Error(`the guest agent of VM ${vmUid} answers at ${address.target}, not a unix socket`));
  }
  return new Promise((resolve, reject) => {
    const socket = connect({ path, allowHalfOpen: true });
    const onAbort = () => socket.destroy(new Error('cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new Error(`cannot connect to the Tart guest agent of VM ${vmUid}: ${err.message}`));
    });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/**
 * The worker's end of tunnel sessions: connects to what the open frame names, tells the controller (`opened`, or an
 * error frame with the reason), then moves bytes until the session ends and logs how it went.
 */
export class TunnelServer {
  private readonly active = new Set<TunnelEndpoint | SocketSplice>();

  constructor(private readonly options: TunnelServerOptions) {}

  get activeSessions(): number {
    return this.active.size;
  }

  /** Serves one tunnel the controller started using. */
  async serve(open: PortForwardOpenFrame, call: TunnelClientCall): Promise<void> {
    const attempt = await this.reach(open, (lost) => {
      call.once('error', lost);
      call.once('end', lost);
      return () => {
        call.off('error', lost);
        call.off('end', lost);
      };
    });
    if (!attempt.socket) {
      if (attempt.refusal !== undefined) {
        call.on('error', () => undefined);
        call.write({ kind: 'error', message: attempt.refusal });
        call.end();
      }
      return;
    }
    const socket = attempt.socket;
    call.write({ kind: 'opened' });
    const endpoint = new TunnelEndpoint({
      link: call,
      local: socket,
      halfClose: true,
      minRttMs: this.options.minRttMs,
      linkLostMessage: 'the connection to the controller was lost',
      // A unix socket (the guest agent's, a host process's) has no TCP reset, and Node throws when asked for one: it is
      // closed instead.
      ...(isUnixTarget(open) ? { abortLocal: () => socket.destroy() } : {}),
    });
    this.active.add(endpoint);
    const outcome: TunnelOutcome = await endpoint.done;
    this.active.delete(endpoint);
    attempt.ended(outcome, { fromTarget: outcome.bytesSent, toTarget: outcome.bytesReceived, via: 'a tunnel stream' });
  }

  /**
   * Serves one session the controller started on a raw link (docs/tunnels.md "Raw byte streams"): connects to the
   * target, answers with the status record (opened, or the reason), then splices the link and the target's socket.
   */
  async serveLink(open: PortForwardOpenFrame, link: Socket, announceEnd?: () => void): Promise<void> {
    configureTunnelSocket(link);
    // A failing link is noticed by its 'close'; an 'error' without a listener would end the process.
    link.on('error', () => undefined);
    // Bytes the client sent with its request wait on the link, unread, until the target is there.
    link.pause();
    const attempt = await this.reach(open, (lost) => {
      link.once('close', lost);
      return () => link.off('close', lost);
    });
    if (!attempt.socket) {
      if (attempt.refusal !== undefined && !link.destroyed) {
        link.end(tunnelRefusal(attempt.refusal));
      }
      return;
    }
    const socket = attempt.socket;
    link.write(TUNNEL_OPENED);
    const splice = new SocketSplice(
      // announceEnd: the controller passes the FIN on without probing this worker (SESSION_CAPABILITY_LINK_END_NOTICE).
      { stream: link, lostMessage: 'the connection to the controller was lost', beforeEnd: announceEnd },
      {
        stream: socket,
        lostMessage: 'the target closed the connection without ending it',
        ...(isUnixTarget(open) ? { abort: () => socket.destroy() } : {}),
      },
    );
    this.active.add(splice);
    const outcome = await splice.done;
    this.active.delete(splice);
    attempt.ended(outcome, { fromTarget: outcome.bytesReceived, toTarget: outcome.bytesSent, via: 'a raw link' });
  }

  /**
   * Connects to what the open frame names, within the connect timeout and while the session's link lives (`watch`
   * calls `lost` when it breaks and returns how to stop watching). Resolves with the socket and a function that logs
   * the session's end, or with the reason to tell the controller (`refusal`; none when the link was lost).
   */
  private async reach(
    open: PortForwardOpenFrame,
    watch: (lost: () => void) => () => void,
  ): Promise<
    | {
        socket: Socket;
        ended: (outcome: TunnelOutcome, bytes: { fromTarget: number; toTarget: number; via: string }) => void;
      }
    | { socket?: undefined; refusal?: string }
  > {
    // One controller and a plain timer rather than AbortSignal.any/timeout: cheaper on every session's setup.
    const cancelled = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cancelled.abort();
    }, CONNECT_TIMEOUT_MS);
    let lost = false;
    const unwatch = watch(() => {
      lost = true;
      cancelled.abort();
    });
    const target = describeTarget(open);
    const span = this.options.tracing?.startSpan('worker.port-forward', {
      parent: open.traceparent,
      kind: 'server',
      attributes: {
        'grove.session.id': open.session,
        'grove.vm.uid': open.vmUid || undefined,
        'grove.port': open.port || undefined,
        'grove.target': open.target,
        'grove.host_process': open.hostProcess,
      },
    });
    const connecting = span && this.options.tracing?.startSpan('worker.connect', { parent: span });
    let socket: Socket;
    try {
      socket = await this.connect(open, cancelled.signal);
    } catch (err) {
      const message = timedOut ? `timed out connecting to ${target}` : (err as Error).message;
      this.options.log(`tunnel session ${open.session}: ${message}`);
      connecting?.end({ error: message });
      span?.setAttributes({ 'grove.session.result': 'refused' });
      span?.end({ error: message });
      return lost ? {} : { refusal: message };
    } finally {
      clearTimeout(timer);
      unwatch();
    }
    connecting?.end();
    if (lost) {
      socket.destroy();
      span?.end({ error: 'the connection to the controller was lost' });
      return {};
    }
    // Half-closes travel through the tunnel, so the socket must keep reading after the target stops writing.
    socket.allowHalfOpen = true;
    configureTunnelSocket(socket);
    return {
      socket,
      ended: (outcome, bytes) => {
        span?.setAttributes({
          'grove.session.result': outcome.result === 'closed' ? 'ok' : 'error',
          'grove.session.bytes_to_target': bytes.toTarget,
          'grove.session.bytes_from_target': bytes.fromTarget,
        });
        span?.end(outcome.result === 'closed' ? {} : { error: outcome.error });
        this.options.log(
          `tunnel session ${open.session} to ${target} ${outcome.result === 'closed' ? 'closed' : `failed: ${outcome.error}`}` +
            ` (${bytes.fromTarget} bytes from the target, ${bytes.toTarget} bytes to it, over ${bytes.via})`,
        );
      },
    };
  }

  /** Connects to what the open frame names; throws with the reason, also for a target this worker does not serve. */
  private async connect(open: PortForwardOpenFrame, signal: AbortSignal): Promise<Socket> {
    switch (open.target) {
      case 'tart-guest-agent':
        if (!open.vmUid) {
          throw new Error('the Tart guest agent target needs a VM');
        }
        return connectGuestAgent(this.options.guestAgent(open.vmUid), open.vmUid, signal);
      case 'host-process':
        if (!this.options.connectHostProcess) {
          throw new Error('this worker does not run host processes');
        }
        if (!open.vmUid || !open.hostProcess) {
          throw new Error('the host process target needs a VM and a process name');
        }
        return this.options.connectHostProcess(open.vmUid, open.hostProcess, signal);
      case 'unknown':
        throw new Error('this worker does not support the tunnel target the controller asked for (upgrade the worker)');
      case undefined:
        // Port 0 is what a target this worker's protocol version predates would leave: never dial it.
        if (open.port === 0) {
          throw new Error('the tunnel names neither a port nor a target this worker supports');
        }
        return open.vmUid ? this.options.connectVm(open.vmUid, open.port, signal) : connectHost(open.port, signal);
    }
  }

  /** Ends every session (the worker is stopping). */
  closeAll(reason: string): void {
    for (const session of [...this.active]) {
      session.abort(reason);
    }
  }
}

/** The guest agent's and host processes' unix sockets have no TCP reset (Node throws when asked for one). */
function isUnixTarget(open: PortForwardOpenFrame): boolean {
  return open.target === 'tart-guest-agent' || open.target === 'host-process';
}

/** What an open frame reaches, for messages. */
function describeTarget(open: PortForwardOpenFrame): string {
  if (open.target === 'tart-guest-agent') {
    return `the Tart guest agent of VM ${open.vmUid}`;
  }
  if (open.target === 'host-process') {
    return `host process ${open.hostProcess} of VM ${open.vmUid}`;
  }
  return open.vmUid ? `VM ${open.vmUid} port ${open.port}` : `worker host port ${open.port}`;
}
