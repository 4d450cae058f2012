import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { webSocketStream } from '@grove/client';
import type * as TunnelLib from '@grove/tunnel';
import type { WebSocket } from 'ws';
import { CliError, describeError } from '../cli.errors';
import { hostForUrl } from './credentials';
import type { Tunnel } from './tunnel-opener';

/**
 * The tunnel library, loaded when a forwarder starts listening rather than with the program: its barrel pulls in the
 * gRPC contract (~140 ms), which every other command would pay.
 */
function tunnelLib(): typeof TunnelLib {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberate lazy load, see above
  return require('@grove/tunnel') as typeof TunnelLib;
}

export interface PortForwarderOptions {
  /** Address to listen on, e.g. 127.0.0.1. */
  host: string;
  /** 0: a random free port. */
  port: number;
  /** What the tunnels reach, for messages: `VM "ci-1" port 5900`. */
  label: string;
  /** Opens the tunnel of one accepted connection; aborting `signal` abandons the attempt. */
  openTunnel(signal: AbortSignal): Promise<Tunnel>;
  /** Reports one connection's failure, `connection 3: VM "ci-1" port 5900: <reason>`; the listener keeps going. */
  report(line: string): void;
}

/** One accepted local connection and its tunnel, once open. */
interface Connection {
  socket: Socket;
  abort: AbortController;
  /** Once open: ends the tunnel mid-session (a reset at the far end). */
  cut?: () => void;
}

/**
 * Listens on a local TCP port and relays every accepted connection through a tunnel of its own (the controller's
 * port-forward API: a plain byte stream, or a WebSocket with older controllers), both ways with backpressure. A
 * connection's failure is reported and ends only that connection.
 */
export class PortForwarder {
  private readonly connections = new Map<Connection, Promise<void>>();
  private accepted = 0;
  private closing = false;

  private constructor(
    private readonly server: Server,
    private readonly options: PortForwarderOptions,
  ) {
    server.on('connection', (socket: Socket) => this.accept(socket));
    server.on('error', (err) => options.report(`listener: ${err.message}`));
  }

  /** Starts listening; rejects with a CliError when the address cannot be bound. */
  static listen(options: PortForwarderOptions): Promise<PortForwarder> {
    // Half-open sockets: the tunnel carries a half-close (TCP's own, or Grove's WebSocket half-close protocol), so a
    // client that stops writing still gets the rest of the answer.
    tunnelLib();
    const server = createServer({ allowHalfOpen: true });
    return new Promise((resolve, reject) => {
      server.once('error', (err) => {
        reject(new CliError(`cannot listen on ${hostForUrl(options.host)}:${options.port}: ${err.message}`));
      });
      server.listen({ host: options.host, port: options.port }, () => {
        server.removeAllListeners('error');
        resolve(new PortForwarder(server, options));
      });
    });
  }

  /** The bound address (the actual port when 0 was asked for). */
  get address(): { host: string; port: number } {
    const address = this.server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** How many connections were accepted so far. */
  get connectionCount(): number {
    return this.accepted;
  }

  /** Stops listening and cuts every connection (open or still waiting for its tunnel). */
  async close(): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections.keys()) {
      connection.abort.abort();
      // The forwarding stops mid-session: the program must not take it for the end of the data.
      resetLocal(connection.socket);
      connection.cut?.();
    }
    await Promise.all([stopped, ...this.connections.values()]);
  }

  private accept(socket: Socket): void {
    const id = ++this.accepted;
    if (this.closing) {
      resetLocal(socket);
      return;
    }
    // Interactive protocols (SSH, VNC) send small packets; Nagle's algorithm would hold them back.
    socket.setNoDelay(true);
    // A local client that resets its connection is its own business, not an error of the forwarder.
    socket.on('error', () => undefined);
    const connection: Connection = { socket, abort: new AbortController() };
    const done = this.serve(id, connection).finally(() => this.connections.delete(connection));
    this.connections.set(connection, done);
  }

  private async serve(id: number, connection: Connection): Promise<void> {
    const { socket, abort } = connection;
    // Until the tunnel is open the socket is not read: what the client sends waits in its buffer.
    const giveUp = () => abort.abort();
    socket.once('close', giveUp);
    // 'end' before anything was read means the client closed without sending a byte: nobody waits for an answer.
    socket.once('end', giveUp);
    let tunnel: Tunnel;
    try {
      tunnel = await untilAborted(this.options.openTunnel(abort.signal), abort.signal);
    } catch (err) {
      // No tunnel: a reset, like a refused connection, rather than an empty answer.
      resetLocal(socket);
      if (!abort.signal.aborted && !this.closing) {
        this.fail(id, describeError(err));
      }
      return;
    } finally {
      socket.off('close', giveUp);
      socket.off('end', giveUp);
    }
    if (abort.signal.aborted || socket.destroyed) {
      cut(tunnel);
      return;
    }
    connection.cut = () => cut(tunnel);
    const problem =
      tunnel.kind === 'stream' ? await splice(socket, tunnel.socket, tunnel.opened) : await relay(socket, tunnel.ws);
    if (problem !== undefined && !this.closing) {
      this.fail(id, problem);
    }
  }

  private fail(id: number, reason: string): void {
    this.options.report(`connection ${id}: ${this.options.label}: ${reason}`);
  }
}

/**
 * Ends a local connection with a TCP reset (RST) rather than a FIN: a program that reads to the end of the data must
 * see an error when the tunnel failed, never an end of file that looks like a complete answer (issue 11).
 */
export function resetLocal(socket: Socket): void {
  // resetStream, not resetAndDestroy: a socket already ended is closed instead (libuv refuses that reset, and Node then
  // never closes the socket).
  tunnelLib().resetStream(socket);
}

/**
 * Settles with `opening`, or rejects as soon as `signal` aborts: an opener may notice the abort late (a raw tunnel
 * waiting for its status record), and close() must not wait for it. A tunnel that opens after all is cut at once.
 */
function untilAborted(opening: Promise<Tunnel>, signal: AbortSignal): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(new Error('cancelled'));
      opening.then(cut, () => undefined);
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    opening.then(
      (tunnel) => {
        signal.removeEventListener('abort', onAbort);
        resolve(tunnel);
      },
      (err: Error) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Ends a tunnel mid-session: the far end sees a failure (a reset, or a WebSocket closed without its end). */
function cut(tunnel: Tunnel): void {
  if (tunnel.kind === 'websocket') {
    tunnel.ws.terminate();
  } else {
    // A reset; a TLS socket, which has none of its own, closes.
    tunnelLib().resetStream(tunnel.socket);
  }
}

/**
 * Relays a local socket and a raw tunnel (a plain byte stream to the target, after the controller's status record; a
 * pipelined one is relayed before the answer came, `opened`) until both directions ended or either side failed:
 * half-closes travel as FINs, failures as resets, both ways (SocketSplice). Resolves with what went wrong when the
 * tunnel, not the local program, failed.
 */
async function splice(socket: Socket, remote: Socket, opened?: Promise<void>): Promise<string | undefined> {
  // A pipelined tunnel that did not open: the controller's or the worker's reason, not the socket's error.
  const refusal = opened?.then(
    () => undefined,
    (err: unknown) => describeError(err),
  );
  const relayed = new (tunnelLib().SocketSplice)(
    { stream: socket, lostMessage: 'the local connection closed before the end of the data' },
    { stream: remote, lostMessage: 'the tunnel closed before the end of the data', readAfter: opened },
  );
  const outcome = await relayed.done;
  if (outcome.result !== 'error' || outcome.failedBy === 'local') {
    return undefined;
  }
  const refused = await refusal;
  if (refused !== undefined) {
    return refused;
  }
  const error = outcome.error ?? 'the tunnel failed';
  // The controller resets the tunnel when it lost the worker or the worker lost the target: say so, not only "read".
  return /^(read|write) E[A-Z]+$/.test(error) ? `the tunnel was cut (${error})` : error;
}

/**
 * Copies bytes both ways between a local socket and a tunnel WebSocket until both are closed, with backpressure. With
 * Grove's half-close protocol each direction ends on its own, as over TCP; without it (an older controller) the end of
 * either direction ends the connection. Only a normal end of the far side (its empty message, or a 1000 close without
 * the protocol) reaches the local program as an end of data (FIN); a tunnel that failed (the controller closes with
 * 1011 and a reason when it lost the worker or the worker lost the target, 1006 when the connection to the controller
 * broke) resets the local connection. A local program that resets its connection gets the tunnel closed with 1011,
 * so that the target sees a reset too. Resolves with the reason the far end gave when it, not the local program,
 * ended the connection abnormally.
 */
export function relay(socket: Socket, ws: WebSocket): Promise<string | undefined> {
  return new Promise((resolve) => {
    const stream = webSocketStream(ws);
    let localGone = false;
    let socketClosed = false;
    let wsClosed = false;
    let problem: string | undefined;
    const settle = () => {
      if (socketClosed && wsClosed) {
        resolve(problem);
      }
    };
    // The local program went first (its half-close is no failure: the far side may still answer).
    socket.once('error', (err: Error) => {
      localGone ||= !wsClosed;
      stream.destroy(new Error(`the local connection failed: ${err.message}`));
    });
    socket.once('close', () => {
      localGone ||= !wsClosed;
      socketClosed = true;
      if (!stream.destroyed) {
        stream.destroy();
      }
      settle();
    });
    ws.once('close', () => {
      wsClosed = true;
      settle();
    });
    // Not pipeline(): on a failure it destroys the socket, which sends a FIN (or an RST only when unread data happens
    // to be waiting), before anyone could reset it.
    socket.pipe(stream);
    stream.pipe(socket);
    stream.once('error', (err: Error) => {
      if (!localGone) {
        problem ??= err.message;
      }
      resetLocal(socket);
    });
    // A stream destroyed without an error before its end (the local side went first) has nothing left to tell.
    stream.once('close', () => {
      if (!stream.readableEnded) {
        resetLocal(socket);
      }
    });
  });
}
