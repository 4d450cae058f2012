import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { summarise, type Summary } from '../stats';

/**
 * Opens one session to a target service through the path under test (a TCP connection to a forwarded port, a tunnel
 * stream, …). The caller gives one Dial per service (echo, sink, source).
 */
export type Dial = () => Promise<Duplex>;

const CHUNK = 64 * 1024;
const MB = 1e6;

/** A Dial for a plain TCP connection (TCP_NODELAY on, half-open allowed so the client can read after end()). */
export function tcpDial(port: number, host = '127.0.0.1'): Dial {
  return () =>
    new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true, allowHalfOpen: true });
      socket.once('error', reject).once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
}

function elapsedSeconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Rejects when `stream` fails or closes before `done` settles; `what` names the step for the error. */
function guard<T>(stream: Duplex, what: string, done: (resolve: (value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onError = (err: Error) => finish(() => reject(new Error(`${what}: session failed`, { cause: err })));
    const onClose = () => finish(() => reject(new Error(`${what}: session closed early`)));
    const finish = (settle: () => void) => {
      stream.off('error', onError).off('close', onClose);
      settle();
    };
    stream.once('error', onError).once('close', onClose);
    done((value) => finish(() => resolve(value)));
  });
}

/** Resolves with exactly `n` bytes (the stream must not send more before they are consumed). */
function readExactly(stream: Duplex, n: number, what: string): Promise<Buffer> {
  return guard(stream, what, (resolve) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= n) {
        stream.off('data', onData);
        resolve(Buffer.concat(chunks, have));
      }
    };
    stream.on('data', onData);
  });
}

/** Waits for 'drain' unless `write()` accepted `piece` without asking for it. */
async function write(stream: Duplex, piece: Buffer, what: string): Promise<void> {
  if (!stream.write(piece)) {
    await guard<void>(stream, what, (resolve) => stream.once('drain', () => resolve()));
  }
}

/** Writes `bytes` bytes of `pattern` (repeated, at most 64 KiB long) in pattern-sized chunks, honouring backpressure. */
async function writeRepeated(stream: Duplex, pattern: Buffer, bytes: number, what: string): Promise<void> {
  for (let left = bytes; left > 0; left -= pattern.length) {
    await write(stream, left >= pattern.length ? pattern : pattern.subarray(0, left), what);
  }
}

/** Writes `data` in 64 KiB chunks, honouring backpressure. */
async function writeChunked(stream: Duplex, data: Buffer, what: string): Promise<void> {
  for (let offset = 0; offset < data.length; offset += CHUNK) {
    await write(stream, data.subarray(offset, offset + CHUNK), what);
  }
}

/** User → VM throughput in MB/s (1 MB = 1e6 bytes): `bytes` into the sink, until the sink confirms the count. */
export async function throughputUp(dialSink: Dial, bytes: number): Promise<number> {
  const stream = await dialSink();
  try {
    const reply = readExactly(stream, 8, 'throughput up (byte count)');
    const started = process.hrtime.bigint();
    await writeRepeated(stream, randomBytes(CHUNK), bytes, 'throughput up');
    stream.end();
    const count = (await reply).readBigUInt64BE(0);
    const seconds = elapsedSeconds(started);
    if (count !== BigInt(bytes)) {
      throw new Error(`the sink received ${count} bytes, ${bytes} were sent`);
    }
    return bytes / MB / seconds;
  } finally {
    stream.destroy();
  }
}

/** VM → user throughput in MB/s: reads `bytes` from the source, then drops the session. */
export async function throughputDown(dialSource: Dial, bytes: number): Promise<number> {
  const stream = await dialSource();
  try {
    const started = process.hrtime.bigint();
    await guard<void>(stream, 'throughput down', (resolve) => {
      let received = 0;
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= bytes) {
          stream.pause();
          resolve();
        }
      });
    });
    return bytes / MB / elapsedSeconds(started);
  } finally {
    stream.destroy();
  }
}

/**
 * Session setup in ms: from the start of the dial to the first echoed byte, `n` sessions one after another (`warm`)
 * after `warmUp` others (`cold`: the first ones a process serves, before Node has compiled the session code with its
 * optimising tiers, which takes some thousands of sessions).
 */
export async function sessionSetup(dialEcho: Dial, n: number, warmUp = 0): Promise<{ warm: Summary; cold?: Summary }> {
  const samples: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < warmUp + n; i++) {
    const started = process.hrtime.bigint();
    const stream = await dialEcho();
    try {
      const echoed = readExactly(stream, 1, 'session setup');
      stream.write(Buffer.from([i & 0xff]));
      await echoed;
      (i >= warmUp ? samples : cold).push(elapsedMs(started));
    } finally {
      stream.destroy();
    }
  }
  return { warm: summarise(samples), ...(cold.length > 0 ? { cold: summarise(cold) } : {}) };
}

/** `n` 1-byte round trips on one open session (after a short warm-up); samples in µs. */
async function roundTrips(stream: Duplex, n: number): Promise<Summary> {
  const warmUp = Math.min(20, n);
  const samples: number[] = [];
  const byte = Buffer.alloc(1);
  for (let i = 0; i < warmUp + n; i++) {
    byte[0] = i & 0xff;
    const started = process.hrtime.bigint();
    const echoed = readExactly(stream, 1, 'ping-pong');
    stream.write(byte);
    const reply = await echoed;
    if (reply[0] !== (i & 0xff)) {
      throw new Error(`ping-pong: sent ${i & 0xff}, got ${reply[0]} back`);
    }
    if (i >= warmUp) {
      samples.push(Number(process.hrtime.bigint() - started) / 1e3);
    }
  }
  return summarise(samples);
}

/** Interactive latency: 1-byte round trips on one open echo session, p50/p99 in µs. */
export async function pingPong(dialEcho: Dial, n: number): Promise<Summary> {
  const stream = await dialEcho();
  try {
    return await roundTrips(stream, n);
  } finally {
    stream.destroy();
  }
}

export interface PingPongUnderBulk {
  /** Round trips in µs, measured while the bulk session was running. */
  rtt: Summary;
  /** What the bulk session read meanwhile, MB/s. */
  bulkMbPerSecond: number;
}

/**
 * Interactive latency next to a bulk transfer: one session reads from the source as fast as it can while another
 * does 1-byte round trips (tunnels.md §4.2, "RTT p99 under bulk"). The bulk session is given 1 MiB to get going first.
 */
export async function pingPongUnderBulk(dialEcho: Dial, dialSource: Dial, n: number): Promise<PingPongUnderBulk> {
  const bulk = await dialSource();
  const echo = await dialEcho().catch((err: unknown) => {
    bulk.destroy();
    throw err;
  });
  try {
    let received = 0;
    const failed = guard<never>(bulk, 'bulk session', () => undefined);
    failed.catch(() => undefined);
    await guard<void>(bulk, 'bulk session start', (resolve) => {
      bulk.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= 1024 * 1024) {
          resolve();
        }
      });
    });
    const before = received;
    const started = process.hrtime.bigint();
    const rtt = await Promise.race([roundTrips(echo, n), failed]);
    return { rtt, bulkMbPerSecond: (received - before) / MB / elapsedSeconds(started) };
  } finally {
    bulk.destroy();
    echo.destroy();
  }
}

export interface ConcurrentEcho {
  /** Wall time from the first dial to the last verified echo. */
  seconds: number;
  /** Aggregate echoed payload (sessions × bytesEach, counted once) per second, MB/s. */
  mbPerSecond: number;
  /** Sessions that failed or whose echo was not byte-exact. */
  failures: number;
  /** The first failure, for the report. */
  firstError?: Error;
}

/** One echo session: writes `data`, half-closes, and checks every echoed byte as it arrives. */
async function echoSession(dialEcho: Dial, data: Buffer): Promise<void> {
  const stream = await dialEcho();
  try {
    const verified = guard<void>(stream, 'concurrent echo', (resolve) => {
      let received = 0;
      stream.on('data', (chunk: Buffer) => {
        if (received + chunk.length > data.length || !chunk.equals(data.subarray(received, received + chunk.length))) {
          stream.destroy(new Error(`echo differs from what was sent at or after byte ${received}`));
          return;
        }
        received += chunk.length;
      });
      stream.once('end', () => {
        if (received === data.length) {
          resolve();
        } else {
          stream.destroy(new Error(`echo ended after ${received} of ${data.length} bytes`));
        }
      });
    });
    await writeChunked(stream, data, 'concurrent echo');
    stream.end();
    await verified;
  } finally {
    stream.destroy();
  }
}

/**
 * `sessions` echo sessions at once, each writing `bytesEach` random bytes (a different slice per session) and checking
 * the echo byte-exact.
 */
export async function concurrentEcho(dialEcho: Dial, sessions: number, bytesEach: number): Promise<ConcurrentEcho> {
  const random = randomBytes(bytesEach + sessions);
  const started = process.hrtime.bigint();
  const outcomes = await Promise.allSettled(
    Array.from({ length: sessions }, (_, i) => echoSession(dialEcho, random.subarray(i, i + bytesEach))),
  );
  const seconds = elapsedSeconds(started);
  const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');
  const firstError = rejected[0]?.reason as Error | undefined;
  return {
    seconds,
    mbPerSecond: (sessions * bytesEach) / MB / seconds,
    failures: rejected.length,
    ...(firstError ? { firstError } : {}),
  };
}

/**
 * Runs one measurement with a time limit; a failure or a timeout is written to stderr (prefixed with `label`) and
 * added to `errors` for the report instead of ending the benchmark.
 */
export async function attemptMeasure<T>(
  label: string,
  what: string,
  timeoutMs: number,
  errors: string[],
  measure: () => Promise<T>,
): Promise<T | undefined> {
  process.stderr.write(`  ${label}${what}...\n`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    return await Promise.race([measure(), timeout]);
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
    const message = `${what}: ${err instanceof Error ? err.message : String(err)}${cause}`;
    process.stderr.write(`  ${label}FAILED ${message}\n`);
    errors.push(message);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
