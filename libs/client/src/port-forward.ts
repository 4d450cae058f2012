import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { HttpTransport } from './http-transport';
import { RAW_TUNNEL_PROTOCOL } from './raw-tunnel';
import { HALF_CLOSE_PROTOCOL } from './websocket-stream';

/** Options of a port-forward WebSocket. */
export interface PortForwardOptions {
  /** TCP port to connect to; left out with `target` or `hostProcess`. */
  port?: number;
  /**
   * VMs only, instead of `port`: `tart-guest-agent`, the VM's Tart guest agent, whose gRPC `Agent` service the
   * WebSocket then carries (role `compute:write` or `compute:connect:tart-guest-agent`).
   */
  target?: 'tart-guest-agent';
  /**
   * VMs only, instead of `port` and `target`: the name of one of the VM's host processes (orchard-2026.md §1.2.3);
   * the WebSocket then carries a connection to the Unix socket it listens on (`?hostProcess=NAME`, role
   * `host-process:connect` besides `compute:write` or `compute:connect`).
   */
  hostProcess?: string;
  /** Seconds the controller may wait for the VM to run and its worker to answer (the API's default is 10). */
  waitSeconds?: number;
  signal?: AbortSignal;
  /**
   * Ask for Grove's half-close protocol (HALF_CLOSE_PROTOCOL): read the WebSocket with `webSocketStream()`, whose
   * end sends an empty message instead of closing, so the far end's answer still arrives. Grove controllers only.
   */
  halfClose?: boolean;
}

/** The one query parameter that says what a port-forward connects to: `hostProcess`, `target` or `port`. */
function portForwardTarget(options: PortForwardOptions): Record<string, string | number | undefined> {
  if (options.hostProcess !== undefined) {
    return { hostProcess: options.hostProcess };
  }
  return options.target === undefined ? { port: options.port } : { target: options.target };
}

export function openPortForward(http: HttpTransport, path: string, options: PortForwardOptions): Promise<WebSocket> {
  const wait = options.waitSeconds ?? 10;
  return http.webSocket({
    path,
    query: { ...portForwardTarget(options), wait },
    signal: options.signal,
    protocols: options.halfClose ? [HALF_CLOSE_PROTOCOL] : [],
    // The controller answers the handshake only once the tunnel is ready: allow the whole wait and then some.
    handshakeMs: (wait + 30) * 1000,
  });
}

/**
 * A port-forward session as a plain byte stream, started without waiting: `socket` may be written at once (the bytes
 * follow the request and reach the target as soon as the worker connected), and `opened` resolves once the worker
 * reached the target. Reading before that is safe: the controller's answer and the status record are consumed first.
 * When the session does not open, `opened` rejects (ApiError, TunnelRefusedError or a connection error) and the
 * socket is destroyed with the same error.
 */
export interface PortForwardStream {
  socket: Socket;
  opened: Promise<void>;
}

export function startPortForwardStream(
  http: HttpTransport,
  path: string,
  options: PortForwardOptions,
): PortForwardStream {
  const wait = options.waitSeconds ?? 10;
  const { socket, answered: opened } = http.beginRawUpgrade({
    path,
    query: { ...portForwardTarget(options), wait },
    protocol: RAW_TUNNEL_PROTOCOL,
    signal: options.signal,
    handshakeMs: (wait + 30) * 1000,
    withStatus: true,
  });
  return { socket, opened };
}

export async function openPortForwardStream(
  http: HttpTransport,
  path: string,
  options: PortForwardOptions,
): Promise<Socket> {
  const started = startPortForwardStream(http, path, options);
  await started.opened;
  return started.socket;
}
