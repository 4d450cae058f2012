import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from 'ssh2';

export interface SshConnectionsOptions {
  /** A TCP connection to a port of a running VM of this worker (the reconciler's `connect`). */
  connectVm: (vmUid: string, port: number, signal: AbortSignal) => Promise<Socket>;
  /** How long to keep retrying a connection that fails (sshd not up yet): Orchard's default `wait` of 10 s. */
  setupTimeoutMs: number;
  /** `keepalive@openssh.com` interval; three unanswered ones end the connection (Orchard: 30 s). */
  keepaliveMs: number;
  /** A connection without sessions for this long is closed; default 60 s. */
  idleCloseMs?: number;
  log: (line: string) => void;
}

/** A VM's login for SSH. */
export interface SshLogin {
  username: string;
  password: string;
}

interface PooledConnection {
  ready: Promise<Client>;
  client?: Client;
  closed: boolean;
  users: number;
  idle?: NodeJS.Timeout;
}

/** Pause between connection attempts (Orchard retries every second). */
const RETRY_INTERVAL_MS = 1000;

/**
 * One shared SSH connection per VM and login, the way Orchard's exec does it (orchard.md §1.5, #440): created when
 * first needed (concurrent requests share one creation), every exec a channel on it, kept alive with keepalives, and
 * forgotten when it fails or closes so that the next exec dials afresh. The VM's host key is not verified, as in
 * Orchard: the connection runs through the worker's own path to the VM.
 */
export class SshConnections {
  private readonly pool = new Map<string, PooledConnection>();

  constructor(private readonly options: SshConnectionsOptions) {}

  /** Connections open or being opened now. */
  get size(): number {
    return this.pool.size;
  }

  /**
   * Runs `use` with the VM's connection, which stays in use (not closed for idleness) until the promise `use`
   * returns settles. When the connection turns out to be dead as `use` starts, it is replaced once.
   */
  async acquire(vmUid: string, login: SshLogin, signal: AbortSignal): Promise<{ client: Client; release: () => void }> {
    const key = `${vmUid}\0${login.username}\0${login.password}`;
    let pooled = this.pool.get(key);
    if (!pooled) {
      pooled = this.create(key, vmUid, login);
      this.pool.set(key, pooled);
    }
    clearTimeout(pooled.idle);
    pooled.users++;
    const entry = pooled;
    let released = false;
    const release = () => {
      if (released) {
        return;
      }
      released = true;
      entry.users--;
      if (entry.users === 0 && this.pool.get(key) === entry) {
        entry.idle = setTimeout(() => this.evict(key, entry), this.options.idleCloseMs ?? 60_000);
        entry.idle.unref();
      }
    };
    try {
      const client = await abortable(entry.ready, signal);
      return { client, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Whether the connection behind `client` is known to be gone (a channel open failed because of that). */
  isDead(client: Client): boolean {
    return ![...this.pool.values()].some((pooled) => pooled.client === client && !pooled.closed);
  }

  /** Closes every connection (the worker is stopping). */
  close(): void {
    for (const [key, pooled] of [...this.pool]) {
      this.evict(key, pooled);
    }
  }

  private create(key: string, vmUid: string, login: SshLogin): PooledConnection {
    const pooled = { closed: false, users: 0 } as PooledConnection;
    pooled.ready = this.connectWithRetries(vmUid, login).then(
      (client) => {
        pooled.client = client;
        const forget = () => {
          pooled.closed = true;
          if (this.pool.get(key) === pooled) {
            this.pool.delete(key);
            clearTimeout(pooled.idle);
          }
        };
        client.on('error', (err) => {
          this.options.log(`SSH connection to VM ${vmUid} failed: ${err.message}`);
          forget();
        });
        client.on('close', forget);
        if (pooled.closed) {
          client.end();
        }
        return client;
      },
      (err: Error) => {
        pooled.closed = true;
        if (this.pool.get(key) === pooled) {
          this.pool.delete(key);
        }
        throw err;
      },
    );
    // Nobody may be waiting any more when it fails (all callers cancelled).
    pooled.ready.catch(() => undefined);
    return pooled;
  }

  private async connectWithRetries(vmUid: string, login: SshLogin): Promise<Client> {
    const deadline = AbortSignal.timeout(this.options.setupTimeoutMs);
    for (;;) {
      try {
        return await this.connectOnce(vmUid, login, deadline);
      } catch (err) {
        const error = err as Error & { level?: string };
        // Wrong credentials or a VM that is not running here will not get better by waiting.
        const final = error.level === 'client-authentication' || /is not running/.test(error.message);
        if (final || deadline.aborted) {
          throw new Error(`failed to establish an SSH connection to the VM: ${error.message}`, { cause: err });
        }
        await delay(RETRY_INTERVAL_MS, undefined, { signal: deadline }).catch(() => undefined);
        if (deadline.aborted) {
          throw new Error(`failed to establish an SSH connection to the VM: ${error.message}`, { cause: err });
        }
      }
    }
  }

  private async connectOnce(vmUid: string, login: SshLogin, signal: AbortSignal): Promise<Client> {
    const sock = await this.options.connectVm(vmUid, 22, signal);
    const client = new Client();
    return new Promise<Client>((resolve, reject) => {
      const onAbort = () => {
        client.end();
        sock.destroy();
        reject(new Error('timed out'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const onError = (err: Error) => {
        signal.removeEventListener('abort', onAbort);
        sock.destroy();
        reject(err);
      };
      client.once('ready', () => {
        signal.removeEventListener('abort', onAbort);
        client.off('error', onError);
        resolve(client);
      });
      client.once('error', onError);
      client.connect({
        sock,
        username: login.username,
        password: login.password,
        // The VM is reached through the worker's own path to it; Orchard does not verify the host key either.
        hostVerifier: () => true,
        keepaliveInterval: this.options.keepaliveMs,
        keepaliveCountMax: 3,
        readyTimeout: this.options.setupTimeoutMs,
      });
    });
  }

  private evict(key: string, pooled: PooledConnection): void {
    clearTimeout(pooled.idle);
    pooled.closed = true;
    if (this.pool.get(key) === pooled) {
      this.pool.delete(key);
    }
    pooled.client?.end();
  }
}

/** `promise`, or a rejection as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    return Promise.reject(new Error('cancelled'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
