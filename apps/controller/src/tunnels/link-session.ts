import type { IncomingMessage } from 'node:http';
import { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { closeWebSocket, RAW_TUNNEL_PROTOCOL, readTunnelStatus, TUNNEL_OPENED, tunnelRefusal } from '@grove/client';
import {
  configureTunnelSocket,
  resetStream,
  SocketSplice,
  TunnelEndpoint,
  type FrameLink,
  type TunnelOutcome,
} from '@grove/tunnel';
import type { WebSocket } from 'ws';
import { clipCloseReason } from './websocket-upgrade';

/** The 101 answer of a raw tunnel upgrade (docs/tunnels.md "Raw byte streams"). */
const RAW_SWITCHING_PROTOCOLS = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${RAW_TUNNEL_PROTOCOL}\r\n\r\n`;

/** Whether a request asks for Grove's raw tunnel protocol (`Upgrade: grove-tunnel/1`) instead of a WebSocket. */
export function isRawTunnelRequest(req: IncomingMessage): boolean {
  return req.headers.upgrade?.toLowerCase() === RAW_TUNNEL_PROTOCOL;
}

/**
 * A port-forward client once its upgrade was accepted: a plain socket (`answered`: whether its 101 was sent; over a
 * worker link it leaves together with the status record), or a WebSocket read as a byte stream.
 */
export type AcceptedClient =
  | { kind: 'raw'; socket: Socket; answered: boolean }
  | { kind: 'websocket'; ws: WebSocket; stream: Duplex; halfClose: boolean };

/** Takes a raw tunnel upgrade; with `answer` the 101 is sent now, else the session sends it with its status record. */
export function acceptRawClient(socket: Socket, answer: boolean): AcceptedClient {
  // Half-closes travel end to end. An HTTPS server's sockets are not half-open (an HTTP one's are): without this, a
  // TLS client's FIN ended the answer's direction too (issue 17, the tunnel benchmark's --tls echo check).
  socket.allowHalfOpen = true;
  configureTunnelSocket(socket);
  if (answer) {
    socket.write(RAW_SWITCHING_PROTOCOLS);
  }
  return { kind: 'raw', socket, answered: answer };
}

/** What a raw client is sent before the status record: the 101, unless it already went. */
function answerHead(client: { answered: boolean }): Buffer {
  return Buffer.from(client.answered ? '' : RAW_SWITCHING_PROTOCOLS, 'latin1');
}

/** Anything a session in progress can be ended with (controller shutdown). */
export interface AbortableSession {
  abort(message: string): void;
}

const LOST = 'the connection to the worker was lost';

/**
 * One port-forward session over a worker's raw link: splices the two byte streams until both ends close or one
 * fails. The client's bytes go to the link at once (behind the open header, so a client that writes first without
 * waiting for the answer costs no round trip); the link's bytes reach the client once the worker's status record was
 * read (it reached the target, or why not) and the client was told (a raw client gets the record behind its 101, a
 * WebSocket the 1011 close with the reason). `confirmEnd` is asked before the worker's end of data is passed on: a
 * killed worker's sockets close with a FIN as a clean end would, and only its session tells them apart.
 */
export class LinkSession implements AbortableSession {
  readonly done: Promise<TunnelOutcome>;
  private readonly splice: SocketSplice;
  private opened = false;

  constructor(
    private readonly client: AcceptedClient,
    private readonly link: Socket,
    confirmEnd: () => Promise<boolean>,
  ) {
    configureTunnelSocket(link);
    // Failures are read from 'close' and the splice's own listeners; an 'error' without a listener would end the process.
    link.on('error', () => undefined);
    (client.kind === 'raw' ? client.socket : client.stream).on('error', () => undefined);
    const status = this.readStatus();
    this.splice = new SocketSplice(
      client.kind === 'raw'
        ? {
            stream: client.socket,
            lostMessage: 'the client went away',
            // Before the status a failure is the session's refusal, with its reason; after it, a reset.
            abort: (message) => (this.opened ? resetStream(client.socket) : this.refuse(message)),
          }
        : {
            stream: client.stream,
            lostMessage: 'the client went away',
            halfClose: client.halfClose,
            abort: (message) => closeWebSocket(client.ws, 1011, clipCloseReason(message)),
          },
      { stream: this.link, lostMessage: LOST, confirmEnd, readAfter: status },
    );
    this.done = this.splice.done;
  }

  /** Ends the session: before the status the client is refused with `message`, after it both sides are cut. */
  abort(message: string): void {
    this.splice.abort(message);
  }

  /** Reads the worker's status record and tells the client; rejects (having failed the session) on a refusal. */
  private async readStatus(): Promise<void> {
    let refusal: string | undefined;
    try {
      const status = await readTunnelStatus(this.link);
      refusal = status.opened ? undefined : status.message;
    } catch {
      refusal = LOST;
    }
    if (refusal !== undefined) {
      this.splice.abort(refusal);
      throw new Error(refusal);
    }
    this.opened = true;
    if (this.client.kind === 'raw' && !this.client.socket.destroyed) {
      // The 101 and the status record in one write: one wake-up of the client less than two.
      this.client.socket.write(Buffer.concat([answerHead(this.client), TUNNEL_OPENED]));
    }
  }

  /** Tells the client why its session did not open. */
  private refuse(message: string): void {
    if (this.client.kind === 'raw') {
      if (!this.client.socket.destroyed) {
        this.client.socket.end(Buffer.concat([answerHead(this.client), tunnelRefusal(message)]));
      }
    } else {
      closeWebSocket(this.client.ws, 1011, clipCloseReason(message));
    }
  }
}

/**
 * A client's session over a gRPC tunnel stream (no raw link was parked, or the worker is held by another replica):
 * a raw client gets the status record when the worker answers `opened` (or the refusal), then the bytes; a WebSocket
 * is closed with 1011 and the reason when the session fails.
 */
export function tunnelEndpointFor(
  client: AcceptedClient,
  link: FrameLink,
  minRttMs: () => number | undefined,
): TunnelEndpoint {
  const common = { link, minRttMs, linkLostMessage: LOST };
  if (client.kind === 'websocket') {
    return new TunnelEndpoint({
      ...common,
      local: client.stream,
      halfClose: client.halfClose,
      // A client that does not answer the close (it stopped reading) is cut off after a grace period.
      abortLocal: (message) => closeWebSocket(client.ws, 1011, clipCloseReason(message)),
    });
  }
  let opened = false;
  return new TunnelEndpoint({
    ...common,
    local: client.socket,
    halfClose: true,
    onFrame: (frame) => {
      if (frame.kind === 'opened' && !opened) {
        opened = true;
        client.socket.write(TUNNEL_OPENED);
      }
    },
    // Before `opened` the client learns why (the status record); after it, a reset as on any TCP failure.
    abortLocal: (message) => (opened ? resetStream(client.socket) : client.socket.end(tunnelRefusal(message))),
  });
}
