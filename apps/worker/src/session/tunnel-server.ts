import { connect, type Socket } from 'node:net';
import { configureTunnelSocket, TunnelEndpoint, type TunnelOutcome } from '@grove/tunnel';
import type { PortForwardOpenFrame, TunnelClientCall } from './tunnel-pool';

/** Give up connecting to a target after this long (a VM that is still booting, a filtered port). */
const CONNECT_TIMEOUT_MS = 30_000;

export interface TunnelServerOptions {
  /** Connects to a port of a running VM of this worker (VmRuntime.connect through the reconciler). */
  connectVm: (vmUid: string, port: number, signal: AbortSignal) => Promise<Socket>;
  /** Smallest round trip to the controller, for flow-control auto-tuning. */
  minRttMs: () => number | undefined;
  log: (line: string) => void;
}

/** Connects to `localhost:port` on the worker host (worker port-forward, e.g. its screen on 5900). */
function connectHost(port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: 'localhost', port, noDelay: true, allowHalfOpen: true });
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
 * The worker's end of tunnel sessions: connects to what the open frame names, tells the controller (`opened`, or an
 * error frame with the reason), then moves bytes until the session ends and logs how it went.
 */
export class TunnelServer {
  private readonly active = new Set<TunnelEndpoint>();

  constructor(private readonly options: TunnelServerOptions) {}

  get activeSessions(): number {
    return this.active.size;
  }

  /** Serves one tunnel the controller started using. */
  async serve(open: PortForwardOpenFrame, call: TunnelClientCall): Promise<void> {
    const cancelled = new AbortController();
    const onLost = () => cancelled.abort();
    call.once('error', onLost);
    call.once('end', onLost);
    const timeout = AbortSignal.timeout(CONNECT_TIMEOUT_MS);
    const signal = AbortSignal.any([cancelled.signal, timeout]);
    const target = open.vmUid ? `VM ${open.vmUid} port ${open.port}` : `worker host port ${open.port}`;
    let socket: Socket;
    try {
      socket = open.vmUid
        ? await this.options.connectVm(open.vmUid, open.port, signal)
        : await connectHost(open.port, signal);
    } catch (err) {
      const message = timeout.aborted ? `timed out connecting to ${target}` : (err as Error).message;
      this.options.log(`tunnel session ${open.session}: ${message}`);
      call.on('error', () => undefined);
      call.write({ kind: 'error', message });
      call.end();
      return;
    } finally {
      call.off('error', onLost);
      call.off('end', onLost);
    }
    if (cancelled.signal.aborted) {
      socket.destroy();
      return;
    }
    // Half-closes travel through the tunnel, so the socket must keep reading after the target stops writing.
    socket.allowHalfOpen = true;
    configureTunnelSocket(socket);
    call.write({ kind: 'opened' });
    const endpoint = new TunnelEndpoint({
      link: call,
      local: socket,
      halfClose: true,
      minRttMs: this.options.minRttMs,
      linkLostMessage: 'the connection to the controller was lost',
    });
    this.active.add(endpoint);
    const outcome: TunnelOutcome = await endpoint.done;
    this.active.delete(endpoint);
    this.options.log(
      `tunnel session ${open.session} to ${target} ${outcome.result === 'closed' ? 'closed' : `failed: ${outcome.error}`}` +
        ` (${outcome.bytesSent} bytes from the target, ${outcome.bytesReceived} bytes to it)`,
    );
  }

  /** Ends every session (the worker is stopping). */
  closeAll(reason: string): void {
    for (const endpoint of [...this.active]) {
      endpoint.abort(reason);
    }
  }
}
