import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ApiError, connectionError, ControllerConnectionError } from './client.errors';
import { upgradeConnection, type UpgradeAnswer } from './raw-tunnel';

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
    try {
      return await this.upgradeOn(warm ?? this.connect(), req);
    } catch (err) {
      // A kept connection the server closed just now: once more on a new one.
      if (warm && !(err instanceof ApiError) && !req.signal?.aborted) {
        return this.upgradeOn(this.connect(), req);
      }
      throw err;
    }
  }

  private async upgradeOn(socket: Socket, req: RawUpgradeRequest): Promise<Socket> {
    const display = this.baseUrl.toString().replace(/\/$/, '');
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
    let answer: UpgradeAnswer;
    try {
      answer = await upgradeConnection(socket, {
        path: `${req.url.pathname}${req.url.search}`,
        host: this.baseUrl.host,
        protocol: req.protocol,
        headers: { ...this.headers, ...req.headers },
      });
    } catch (err) {
      socket.destroy();
      throw req.signal?.aborted ? err : connectionError(err, display, this.pinned);
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
    }
    if (answer.status !== 101) {
      throw ApiError.fromResponse(answer.status, answer.body, answer.headers);
    }
    return socket;
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
          // Half-closes travel through tunnels (Node passes this on to the TLS socket; the types lack it).
          ...({ allowHalfOpen: true } as object),
        })
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
      this.refill();
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
