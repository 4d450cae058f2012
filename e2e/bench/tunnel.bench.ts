import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { formatMs, type Summary } from './stats';
import {
  concurrentEcho,
  pingPong,
  pingPongUnderBulk,
  sessionSetup,
  throughputDown,
  throughputUp,
  type ConcurrentEcho,
  type PingPongUnderBulk,
  attemptMeasure,
} from './support/measure';
import { groveApiPath, groveCliPath, groveWebSocketPath } from './support/grove';
import { openSshPath, rawTcpPath, rawTcpViaDelayProxyPath, type BenchPath, type StartedPath } from './support/paths';
import { relayChainPath } from './support/relay-chain';
import { startTargets } from './support/targets';

/**
 * Tunnel benchmark: the same user ↔ "VM" sessions over several paths side by side — raw TCP (the ceiling), raw TCP
 * through the delay proxy (what the emulated link itself allows), OpenSSH `ssh -L`, and Grove's tunnel through the API
 * (a raw port-forward per session, `Upgrade: grove-tunnel/1`), through the API over WebSockets (older controllers and
 * Orchard), and through `grove port-forward` (tunnels.md §4.2 has the method and the numbers to compare with). The
 * target services (echo, sink, source) and the delay proxies run in worker threads of their own; ssh, sshd, the
 * controller, the worker and the CLI are processes. Loopback only. With --rtt, the tunnel hop (ssh↔sshd,
 * worker↔controller for Grove) gets rtt/2 of delay each way; raw TCP is never delayed, and the user's side of each
 * tunnel (driver or CLI ↔ ssh or controller) neither. With --tls, the Grove controller serves TLS (its generated
 * certificate, pinned by the driver, the workers and the CLI), as a real deployment does; the rows say "(TLS)".
 * Two rows on request give the floor of Grove's topologies (relay-chain.ts): `relay2` (as many relaying processes as
 * the API path) and `relay3` (as the CLI path), plain SocketSplice relays that do nothing else.
 * Session setups are measured after --setup-warmup others (2000 by default, 20 with --rtt): the figure of processes
 * that have served sessions for a while; the setup column also gives the warm-up sessions' figures ("cold": code Node
 * has not optimised yet, as in a `grove port-forward` that just started).
 *
 *   npm run bench:tunnel
 *   npm run bench:tunnel -- --rtt 20
 *   npm run bench:tunnel -- --paths openssh --ssh-cipher aes128-gcm@openssh.com --mib 512 --runs 5
 *   npm run bench:tunnel -- --paths grove,grove-ws,grove-cli --tls
 *   npm run bench:tunnel -- --paths raw,relay2,grove,relay3,grove-cli
 */
const MiB = 1024 * 1024;

interface Options {
  rttMs: number;
  mib: number;
  runs: number;
  pings: number;
  setups: number;
  setupWarmUp: number;
  sessions: number;
  sessionMib: number;
  timeoutMs: number;
}

interface Row {
  name: string;
  notes: string[];
  up?: number[];
  down?: number[];
  setup?: { warm: Summary; cold?: Summary };
  ping?: Summary;
  underBulk?: PingPongUnderBulk;
  concurrent?: ConcurrentEcho;
  errors: string[];
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Runs one measurement; a failure or a timeout is reported in the row instead of ending the benchmark. */
function attempt<T>(row: Row, what: string, timeoutMs: number, measure: () => Promise<T>): Promise<T | undefined> {
  return attemptMeasure(`${row.name}: `, what, timeoutMs, row.errors, measure);
}

async function repeat<T>(runs: number, measure: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < runs; i++) {
    results.push(await measure());
  }
  return results;
}

async function measurePath(path: BenchPath, started: StartedPath, o: Options): Promise<Row> {
  const row: Row = { name: path.name, notes: started.notes, errors: [] };
  const { dialEcho, dialSink, dialSource } = started;
  // A byte-exact echo first: a path that cannot carry data is not worth timing.
  const sanity = await attempt(row, 'echo check', o.timeoutMs, () => concurrentEcho(dialEcho, 1, 64 * 1024));
  if (sanity === undefined || sanity.failures > 0) {
    row.errors.push(`echo check failed${sanity?.firstError ? `: ${sanity.firstError.message}` : ''}`);
    return row;
  }
  const bytes = o.mib * MiB;
  row.up = await attempt(row, `user→VM ${o.mib} MiB × ${o.runs}`, o.timeoutMs * o.runs, () =>
    repeat(o.runs, () => throughputUp(dialSink, bytes)),
  );
  row.down = await attempt(row, `VM→user ${o.mib} MiB × ${o.runs}`, o.timeoutMs * o.runs, () =>
    repeat(o.runs, () => throughputDown(dialSource, bytes)),
  );
  row.setup = await attempt(row, `session setup × ${o.setups} (after ${o.setupWarmUp})`, o.timeoutMs, () =>
    sessionSetup(dialEcho, o.setups, o.setupWarmUp),
  );
  row.ping = await attempt(row, `ping-pong × ${o.pings}`, o.timeoutMs, () => pingPong(dialEcho, o.pings));
  row.underBulk = await attempt(row, `ping-pong under bulk × ${o.pings}`, o.timeoutMs, () =>
    pingPongUnderBulk(dialEcho, dialSource, o.pings),
  );
  row.concurrent = await attempt(row, `${o.sessions} × ${o.sessionMib} MiB echo`, o.timeoutMs, () =>
    concurrentEcho(dialEcho, o.sessions, o.sessionMib * MiB),
  );
  return row;
}

const NA = '—';

function medianBest(values: number[] | undefined): string {
  if (!values?.length) {
    return NA;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return `${median.toFixed(0)} / ${sorted[sorted.length - 1].toFixed(0)}`;
}

function micros(us: number): string {
  return us.toFixed(0);
}

function render(row: Row): string {
  const cells = [
    row.name,
    medianBest(row.up),
    medianBest(row.down),
    row.setup
      ? `${formatMs(row.setup.warm.p50)} / ${formatMs(row.setup.warm.p99)}` +
        (row.setup.cold ? ` (cold ${formatMs(row.setup.cold.p50)} / ${formatMs(row.setup.cold.p99)})` : '')
      : NA,
    row.ping ? `${micros(row.ping.p50)} / ${micros(row.ping.p99)}` : NA,
    row.underBulk
      ? `${micros(row.underBulk.rtt.p99)} (${micros(row.underBulk.rtt.p50)} p50; bulk ${row.underBulk.bulkMbPerSecond.toFixed(0)} MB/s)`
      : NA,
    row.concurrent
      ? `${row.concurrent.seconds.toFixed(2)} s (${row.concurrent.mbPerSecond.toFixed(0)} MB/s, ${row.concurrent.failures} failed)`
      : NA,
  ];
  return `| ${cells.join(' | ')} |`;
}

function commandLine(): string {
  const args = process.argv.slice(2).map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg}'`));
  return `npm run bench:tunnel${args.length ? ` -- ${args.join(' ')}` : ''}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rtt: { type: 'string', default: '0' },
      mib: { type: 'string' },
      runs: { type: 'string', default: '3' },
      pings: { type: 'string' },
      setups: { type: 'string' },
      'setup-warmup': { type: 'string' },
      sessions: { type: 'string', default: '200' },
      'session-mib': { type: 'string', default: '1' },
      paths: { type: 'string', default: 'raw,proxy,openssh,grove,grove-ws,grove-cli' },
      tls: { type: 'boolean', default: false },
      'ssh-cipher': { type: 'string' },
      'timeout-s': { type: 'string', default: '120' },
    },
  });
  const rttMs = Number(values.rtt);
  const delayed = rttMs > 0;
  const o: Options = {
    rttMs,
    mib: Number(values.mib ?? (delayed ? 32 : 256)),
    runs: Number(values.runs),
    // Round trips cost an RTT each: fewer samples when the link is slow.
    pings: Number(values.pings ?? (delayed ? 200 : 2000)),
    setups: Number(values.setups ?? (delayed ? 50 : 200)),
    setupWarmUp: Number(values['setup-warmup'] ?? (delayed ? 20 : 2000)),
    sessions: Number(values.sessions),
    sessionMib: Number(values['session-mib']),
    timeoutMs: Number(values['timeout-s']) * 1000,
  };
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`${name} must be a non-negative number (see the flags in tunnel.bench.ts)`);
    }
  }
  const delayMs = delayed ? rttMs / 2 : undefined;
  const available: Record<string, BenchPath> = {
    raw: rawTcpPath,
    proxy: rawTcpViaDelayProxyPath({ delayMs }),
    openssh: openSshPath({ delayMs, cipher: values['ssh-cipher'] }),
    grove: groveApiPath({ delayMs, tls: values.tls }),
    'grove-ws': groveWebSocketPath({ delayMs, tls: values.tls }),
    'grove-cli': groveCliPath({ delayMs, tls: values.tls }),
    relay2: relayChainPath(2),
    relay3: relayChainPath(3),
  };
  const paths = values.paths.split(',').map((key) => {
    const path = available[key.trim()];
    if (!path) {
      throw new Error(`unknown path "${key}"; known: ${Object.keys(available).join(', ')}`);
    }
    return path;
  });

  const targets = await startTargets();
  const rows: Row[] = [];
  try {
    for (const path of paths) {
      progress(`starting ${path.name}...`);
      const started = await path.start(targets);
      try {
        rows.push(await measurePath(path, started, o));
      } finally {
        await started.stop();
      }
    }
  } finally {
    await targets.close();
  }

  const link = delayed
    ? `${rttMs} ms RTT on the tunnel hop (${rttMs / 2} ms each way, user-space delay proxy); raw TCP undelayed`
    : 'loopback, no added delay';
  console.log(`Tunnel benchmark: ${link}`);
  console.log(
    `node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}); throughput ${o.mib} MiB × ${o.runs} runs; ` +
      `${o.setups} setups after ${o.setupWarmUp} cold ones, ${o.pings} round trips; MB = 1e6 bytes`,
  );
  for (const row of rows) {
    for (const note of row.notes) {
      console.log(`- ${row.name}: ${note}`);
    }
  }
  console.log('');
  console.log(
    `| path | user→VM MB/s (median / best) | VM→user MB/s (median / best) | setup p50 / p99 ms (cold: the first ones) | RTT p50 / p99 µs | ` +
      `RTT p99 under bulk µs | ${o.sessions} × ${o.sessionMib} MiB echo |`,
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(render(row));
  }
  const failures = rows.flatMap((row) => row.errors.map((error) => `- ${row.name}: ${error}`));
  if (failures.length) {
    console.log(`\nFailures:\n${failures.join('\n')}`);
  }
  console.log(`\nCommand: ${commandLine()}`);
  if (failures.length) {
    process.exitCode = 1;
  }
}

main().then(
  // Sessions abandoned by a failed or timed-out measurement may still hold sockets open.
  () => process.exit(),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
