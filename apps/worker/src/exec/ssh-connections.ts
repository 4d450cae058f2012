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
  /** Connections one VM (and login) may have open at once; default {@link MAX_CONNECTIONS_PER_VM}. */
  maxConnectionsPerVm?: number;
  log: (line: string) => void;
}

/** A VM's login for SSH. */
export interface SshLogin {
  username: string;
  password: string;
}

/** A session channel opened by {@link SshConnections.openSession}; `release` once the channel has closed. */
export interface SshSessionLease<T> {
  channel: T;
  release: () => void;
}

/** The server refused to open a session, or to run it, on a connection that is up: not a connection failure. */
export class SshSessionError extends Error {}

/**
 * With sshd's default `MaxSessions` of 10, eight connections carry 80 concurrent sessions; sshd's `MaxStartups`
 * (10 unauthenticated connections) does not get in the way of opening them one at a time.
 */
export const MAX_CONNECTIONS_PER_VM = 8;

/** Pause between connection attempts (Orchard retries every second). */
const RETRY_INTERVAL_MS = 1000;

/** A session that keeps being refused although the server is not at its limit is not retried forever. */
const MAX_OPEN_ATTEMPTS = 32;

/** One SSH connection of a VM. */
interface PooledConnection {
  ready: Promise<Client>;
  client?: Client;
  closed: boolean;
  /** Session channels open on it. */
  sessions: number;
  /** Session opens under way on it, waiting for the connection itself included. */
  opening: number;
  /**
   * The server refused a session while others were open or opening: the connection is at the server's
   * `MaxSessions`. From then on a new session goes here only into a slot that one of its sessions left (`room`).
   * Forgotten once nothing is open or opening on it.
   */
  limited: boolean;
  /** Slots freed since the connection became `limited`. */
  room: number;
  idle?: NodeJS.Timeout;
}

/** The connections of one VM and login. */
interface Pool {
  vmUid: string;
  login: SshLogin;
  connections: PooledConnection[];
  /** Callers waiting for room: every connection is limited and no more may be opened. */
  waiting: Set<() => void>;
}

/** A session open about to be tried on a connection. */
interface Reservation {
  entry: PooledConnection;
  /** It took a slot a closed session left on a `limited` connection. */
  usedRoom: boolean;
}

/**
 * The SSH connections exec uses for VMs without the guest agent. Like Orchard's exec (orchard.md §1.5, #440), one
 * connection per VM and login carries every exec as a session channel: created when first needed (concurrent
 * requests share one creation), kept alive with keepalives, and forgotten when it fails or closes so that the next
 * exec dials afresh; a session refused on a connection that is up does not condemn it.
 *
 * Unlike Orchard, the one connection grows into a small pool when it is full: OpenSSH's sshd opens at most
 * `MaxSessions` (default 10) sessions per connection and refuses the next with "open failed", so 32 concurrent execs
 * cannot share one. A session refused while others are open or opening on the same connection marks that connection
 * full and goes to the next one that has room, or to a new connection (up to {@link MAX_CONNECTIONS_PER_VM}; beyond
 * that it waits for a session to end). A refusal with nothing else on the connection is no limit: the session is
 * retried there once. Extra connections, like the first, close after `idleCloseMs` without sessions.
 *
 * The VM's host key is not verified, as in Orchard: the connection runs through the worker's own path to the VM.
 */
export class SshConnections {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: SshConnectionsOptions) {}

  /** Connections open or being opened now, over all VMs. */
  get size(): number {
    let size = 0;
    this.pools.forEach((pool) => (size += pool.connections.length));
    return size;
  }

  /**
   * Opens a session channel with `open` on one of the VM's connections and returns it with the `release` to call
   * once the channel has closed. Rejects with the connection's failure, or with an {@link SshSessionError} that
   * carries `open`'s when the session could not be opened on a live connection.
   */
  async openSession<T>(
    vmUid: string,
    login: SshLogin,
    signal: AbortSignal,
    open: (client: Client) => Promise<T>,
  ): Promise<SshSessionLease<T>> {
    const pool = this.pool(vmUid, login);
    let replacedDead = false;
    let retriedStray = false;
    for (let attempt = 1; ; attempt++) {
      const { entry, usedRoom } = await this.reserve(pool, signal);
      let client: Client;
      try {
        client = await abortable(entry.ready, signal);
      } catch (err) {
        this.unreserve(pool, entry, usedRoom);
        throw err;
      }
      let channel: T;
      try {
        channel = await open(client);
      } catch (err) {
        entry.opening--;
        const error = err as Error & { reason?: unknown };
        if (entry.closed || CONNECTION_GONE.test(error.message)) {
          // The connection died under the open: evict it and dial afresh, once (Orchard).
          this.evict(pool, entry);
          this.settled(pool, entry);
          if (replacedDead || signal.aborted) {
            throw new SshSessionError(error.message, { cause: err });
          }
          this.options.log(`SSH connection to VM ${vmUid} was gone when a session was opened on it; dialling again`);
          replacedDead = true;
          continue;
        }
        // ssh2 gives a channel open failure the numeric reason code from the server.
        if (typeof error.reason !== 'number') {
          this.unreserve(pool, entry, usedRoom, false);
          throw new SshSessionError(error.message, { cause: err });
        }
        const atLimit = entry.sessions + entry.opening > 0;
        if (atLimit) {
          if (!entry.limited || usedRoom) {
            this.options.log(
              `SSH connection to VM ${vmUid} is full (a session was refused with ${entry.sessions} open); ` +
                'opening sessions on another connection',
            );
          }
          entry.limited = true;
          if (usedRoom) {
            // The slot we counted on was not free after all: count afresh from the next closed session.
            entry.room = 0;
          }
        }
        this.settled(pool, entry);
        if (signal.aborted || attempt >= MAX_OPEN_ATTEMPTS || (!atLimit && retriedStray)) {
          throw new SshSessionError(error.message, { cause: err });
        }
        retriedStray ||= !atLimit;
        continue;
      }
      entry.opening--;
      entry.sessions++;
      let released = false;
      const release = () => {
        if (released) {
          return;
        }
        released = true;
        entry.sessions--;
        if (entry.limited) {
          entry.room++;
        }
        this.settled(pool, entry);
      };
      return { channel, release };
    }
  }

  /** Closes every connection (the worker is stopping). */
  close(): void {
    for (const pool of [...this.pools.values()]) {
      for (const entry of [...pool.connections]) {
        this.evict(pool, entry);
      }
      wake(pool);
    }
  }

  private pool(vmUid: string, login: SshLogin): Pool {
    const key = `${vmUid}\0${login.username}\0${login.password}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = { vmUid, login, connections: [], waiting: new Set() };
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * A connection for one more session: the oldest that has room (so that extra connections fall idle and close), a
   * new one when none has, or, when the VM has all the connections it may have, the first to get room.
   */
  private async reserve(pool: Pool, signal: AbortSignal): Promise<Reservation> {
    for (;;) {
      if (signal.aborted) {
        this.dropIfUnused(pool);
        throw new Error('cancelled');
      }
      const entry = pool.connections.find((c) => !c.closed && (!c.limited || c.room > 0));
      if (entry) {
        const usedRoom = entry.limited;
        if (usedRoom) {
          entry.room--;
        }
        clearTimeout(entry.idle);
        entry.opening++;
        return { entry, usedRoom };
      }
      if (pool.connections.length < (this.options.maxConnectionsPerVm ?? MAX_CONNECTIONS_PER_VM)) {
        const created = this.create(pool);
        created.opening++;
        return { entry: created, usedRoom: false };
      }
      try {
        await waitForRoom(pool, signal);
      } catch (err) {
        this.dropIfUnused(pool);
        throw err;
      }
    }
  }

  /** Gives back a reservation that did not lead to an open. */
  private unreserve(pool: Pool, entry: PooledConnection, usedRoom: boolean, counted = true): void {
    if (counted) {
      entry.opening--;
    }
    if (usedRoom && entry.limited) {
      entry.room++;
    }
    this.settled(pool, entry);
  }

  /** After a session or an open ended on `entry`: an idle connection starts its idle timer; waiters look again. */
  private settled(pool: Pool, entry: PooledConnection): void {
    if (entry.sessions + entry.opening === 0) {
      entry.limited = false;
      entry.room = 0;
      clearTimeout(entry.idle);
      if (!entry.closed) {
        entry.idle = setTimeout(() => this.evict(pool, entry), this.options.idleCloseMs ?? 60_000);
        entry.idle.unref();
      }
    }
    wake(pool);
  }

  private create(pool: Pool): PooledConnection {
    const ready = this.connectWithRetries(pool.vmUid, pool.login).then(
      (client) => {
        entry.client = client;
        client.on('error', (err) => {
          this.options.log(`SSH connection to VM ${pool.vmUid} failed: ${err.message}`);
          this.forget(pool, entry);
        });
        client.on('close', () => this.forget(pool, entry));
        if (entry.closed) {
          client.end();
        }
        return client;
      },
      (err: Error) => {
        this.forget(pool, entry);
        throw err;
      },
    );
    // Nobody may be waiting any more when it fails (all callers cancelled).
    ready.catch(() => undefined);
    const entry: PooledConnection = { ready, closed: false, sessions: 0, opening: 0, limited: false, room: 0 };
    pool.connections.push(entry);
    return entry;
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
      // Kept until ready: a client can report more than one failure (a timeout, then the lost connection), and an
      // 'error' nobody listens for would end the worker.
      client.on('error', onError);
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

  /** The connection failed or closed: the next session dials afresh. */
  private forget(pool: Pool, entry: PooledConnection): void {
    entry.closed = true;
    clearTimeout(entry.idle);
    const at = pool.connections.indexOf(entry);
    if (at >= 0) {
      pool.connections.splice(at, 1);
      this.dropIfUnused(pool);
      wake(pool);
    }
  }

  private evict(pool: Pool, entry: PooledConnection): void {
    this.forget(pool, entry);
    entry.client?.end();
  }

  private dropIfUnused(pool: Pool): void {
    if (pool.connections.length === 0 && pool.waiting.size === 0) {
      const key = `${pool.vmUid}\0${pool.login.username}\0${pool.login.password}`;
      if (this.pools.get(key) === pool) {
        this.pools.delete(key);
      }
    }
  }
}

/** What ssh2 says when a session is opened on a connection that is closed or closing. */
const CONNECTION_GONE = /^(Not connected|No response from server)$/;

function wake(pool: Pool): void {
  for (const resolve of [...pool.waiting]) {
    resolve();
  }
}

/** Resolves when something changes in `pool` (a session ends, a connection goes), or rejects when `signal` aborts. */
function waitForRoom(pool: Pool, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      pool.waiting.delete(done);
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      pool.waiting.delete(done);
      reject(new Error('cancelled'));
    };
    pool.waiting.add(done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
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
