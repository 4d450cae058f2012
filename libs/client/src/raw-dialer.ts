import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ApiError, connectionError, ControllerConnectionError } from './client.errors';
import { readUpgradeAnswer, sendUpgradeRequest, TunnelRefusedError } from './raw-tunnel';

/** A connection kept ready is replaced after this long unused (servers drop connections that send no request). */
const WARM_MAX_AGE_MS = 20_000;

export interface RawUpgradeRequest {
  /** The request's URL (path and query are sent; scheme, host and port are the dialer's). */
  url: URL;
  /** The protocol asked for in `Upgrade:`. */
  protocol: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** How long the connection and the answer may take. */
  handshakeMs: number;
  /**
   * Read a port-forward's status record right behind the 101 (raw-tunnel.ts): `answered` then resolves once the target
   * was reached and rejects with a TunnelRefusedError when it was not.
   */
  withStatus?: boolean;
  signal?: AbortSignal;
}

interface WarmConnection {
  socket: Socket;
  since: number;
}

/**
 * Opens TCP (or TLS) connections to the controller for HTTP/1.1 upgrades to Grove's raw protocols (raw-tunnel.ts).
 * With `keepWarm`, one connection is always open and waiting, so that a session's setup does not pay for the TCP and
 * TLS handshakes (`grove port-forward` opens a session per local connection).
 */
export class RawDialer {
  private warm: WarmConnection | undefined;
  private keepWarm = false;
  private closed = false;
  /**
   * The controller's latest TLS session ticket: the next connection resumes it, skipping the certificate signature
   * and its verification (about a millisecond of CPU each side with the controller's P-384 key), which every session
   * would otherwise pay twice (the client's connection, and the worker's replacement link).
   */
  private tlsSession: Buffer | undefined;

  constructor(
    private readonly baseUrl: URL,
    private readonly tls: ConnectionOptions | undefined,
    private readonly headers: Record<string, string>,
    private readonly pinned: boolean,
  ) {}

  /** Keeps one connection open and ready from now on (until `close`). */
  prepare(): void {
    this.keepWarm = true;
    this.refill();
  }

  /** Closes the connection kept ready and stops keeping one. */
  close(): void {
    this.closed = true;
    this.warm?.socket.destroy();
    this.warm = undefined;
  }

  /**
   * Sends the upgrade request and resolves with the connection once the controller answered 101, the bytes after
   * the answer left unread. Any other answer is an ApiError with the controller's message; a connection that fails
   * is a ControllerConnectionError naming the controller.
   */
  async upgrade(req: RawUpgradeRequest): Promise<Socket> {
    const warm = this.takeWarm();
    const first = this.begin(req, warm);
    try {
      await first.answered;
      return first.socket;
    } catch (err) {
      // A kept connection the server closed just now: once more on a new one.
      if (warm && !(err instanceof ApiError) && !(err instanceof TunnelRefusedError) && !req.signal?.aborted) {
        const again = this.begin(req);
        await again.answered;
        return again.socket;
      }
      throw err;
    }
  }

  /**
   * Sends the upgrade request on the connection kept ready (or a new one) and returns at once: the caller may write
   * the session's first bytes right behind the request, and read once `answered` resolved (reading earlier is safe:
   * the answer's head is consumed first). When the answer is not a 101, the socket is destroyed and `answered`
   * rejects as `upgrade` does.
   */
  begin(
    req: RawUpgradeRequest,
    socket: Socket = this.takeWarm() ?? this.connect(),
  ): {
    socket: Socket;
    answered: Promise<void>;
  } {
    const display = this.baseUrl.toString().replace(/\/$/, '');
    // The failure is `answered`'s rejection (and the error event of whoever reads the socket): never a crash.
    socket.on('error', () => undefined);
    sendUpgradeRequest(socket, {
      path: `${req.url.pathname}${req.url.search}`,
      host: this.baseUrl.host,
      protocol: req.protocol,
      headers: { ...this.headers, ...req.headers },
    });
    const fail = (err: Error) => socket.destroy(err);
    const timer = setTimeout(
      () =>
        fail(
          new ControllerConnectionError('timeout', display, `the controller at ${display} did not answer`, 'ETIMEDOUT'),
        ),
      req.handshakeMs,
    );
    const onAbort = () => fail(new Error('cancelled'));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const answered = readUpgradeAnswer(socket, req.protocol, req.withStatus).then(
      (answer) => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        if (answer.status !== 101) {
          const error = ApiError.fromResponse(answer.status, answer.body, answer.headers);
          socket.destroy(error);
          throw error;
        }
        if (answer.tunnel && !answer.tunnel.opened) {
          const error = new TunnelRefusedError(answer.tunnel.message);
          socket.destroy(error);
          throw error;
        }
      },
      (err: unknown) => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        const error = req.signal?.aborted ? (err as Error) : connectionError(err, display, this.pinned);
        socket.destroy(error);
        throw error;
      },
    );
    // Whoever only reads the socket learns of a failure from its error: an unawaited `answered` is not a crash.
    answered.catch(() => undefined);
    return { socket, answered };
  }

  private connect(): Socket {
    const port = Number(this.baseUrl.port || (this.tls ? 443 : 80));
    const host = this.baseUrl.hostname.replace(/^\[(.*)\]$/, '$1');
    const socket = this.tls
      ? tlsConnect({
          host,
          port,
          ...(isIP(host) ? {} : { servername: host }),
          ALPNProtocols: ['http/1.1'],
          ...this.tls,
          ...(this.tlsSession ? { session: this.tlsSession } : {}),
          // Half-closes travel through tunnels (Node passes this on to the TLS socket; the types lack it).
          ...({ allowHalfOpen: true } as object),
        }).on('session', (session: Buffer) => (this.tlsSession = session))
      : netConnect({ host, port, allowHalfOpen: true });
    socket.setNoDelay(true);
    return socket;
  }

  private takeWarm(): Socket | undefined {
    const warm = this.warm;
    this.warm = undefined;
    if (warm && (warm.socket.destroyed || Date.now() - warm.since > WARM_MAX_AGE_MS)) {
      warm.socket.destroy();
      this.refill();
      return undefined;
    }
    if (warm) {
      warm.socket.removeAllListeners('error');
      warm.socket.removeAllListeners('close');
      warm.socket.ref();
      // The replacement once this request is on its way (the connect would otherwise go first, and the controller
      // would accept it before reading the request).
      setImmediate(() => this.refill());
    }
    return warm?.socket;
  }

  private refill(): void {
    if (!this.keepWarm || this.closed || this.warm) {
      return;
    }
    const socket = this.connect();
    const warm: WarmConnection = { socket, since: Date.now() };
    this.warm = warm;
    // Never the reason a process stays alive, and replaced when the server closes it or it grows old.
    socket.unref();
    const forget = () => {
      if (this.warm === warm) {
        this.warm = undefined;
      }
    };
    socket.once('error', forget);
    socket.once('close', forget);
    const timer = setTimeout(() => {
      if (this.warm === warm) {
        this.warm = undefined;
        socket.destroy();
        this.refill();
      }
    }, WARM_MAX_AGE_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }
}
