import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { webSocketStream } from '@grove/client';
import { Client } from 'pg';
import type { WebSocket } from 'ws';
import { startBenchCluster, type BenchCluster } from './bench-cluster';
import { formatMs, summarise } from './stats';
import { processCpuSeconds } from './support/process-cpu';
import { createUntilRunning } from './support/vm-running';

/**
 * What one port-forward session's setup costs (issue 17), for both targets: a port of a running synthetic VM (its
 * echo service on port 7) and a port of the worker host (an echo server in this process). Sessions are opened one
 * after another, each until its first byte is echoed back, as the tunnel benchmark's `setup` column does; besides the
 * wall time it reports what does not depend on how busy the machine is: CPU time of the controller and of the worker
 * per session, and database transactions per session (Postgres' own count, `pg_stat_database`, less the idle rate
 * measured just before).
 *
 *   node e2e/dist/bench/tunnel-setup.bench.js [--setups 500]
 */
const STATS_SETTLE_MS = 11_000;

interface Row {
  target: string;
  wallP50: number;
  wallP99: number;
  controllerCpuMs: number;
  workerCpuMs: number;
  transactions: number;
}

/** The pid of the synthetic worker process this benchmark started (a child running apps/worker/dist/main.js). */
function workerPid(): number {
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === process.pid && cmdline.includes('worker/dist/main.js')) {
        return Number(entry);
      }
    } catch {
      // The process ended meanwhile.
    }
  }
  throw new Error('the worker process was not found');
}

async function transactions(db: Client): Promise<number> {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const result = await db.query<{ n: string }>(
    "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = 'bench'",
  );
  return Number(result.rows[0].n);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One session: open the WebSocket, send a byte, wait for it to come back, close. */
async function oneSetup(open: () => Promise<WebSocket>, i: number): Promise<number> {
  const started = performance.now();
  const stream = webSocketStream(await open());
  await new Promise<void>((resolve, reject) => {
    stream.once('data', () => resolve());
    stream.once('error', reject);
    stream.write(Buffer.from([i & 0xff]));
  });
  const ms = performance.now() - started;
  stream.destroy();
  return ms;
}

async function measure(
  cluster: BenchCluster,
  db: Client,
  worker: number,
  target: string,
  setups: number,
  open: () => Promise<WebSocket>,
): Promise<Row> {
  for (let i = 0; i < 20; i++) {
    await oneSetup(open, i);
  }
  // The idle rate of transactions (heartbeats, the scheduler), to be taken off the sessions' count.
  await sleep(STATS_SETTLE_MS);
  const idleFrom = await transactions(db);
  const idleStarted = performance.now();
  await sleep(STATS_SETTLE_MS);
  const idleRate = ((await transactions(db)) - idleFrom) / (performance.now() - idleStarted);
  const before = await transactions(db);
  const controllerBefore = processCpuSeconds(cluster.controller.child.pid!) ?? NaN;
  const workerBefore = processCpuSeconds(worker) ?? NaN;
  const started = performance.now();
  const samples: number[] = [];
  for (let i = 0; i < setups; i++) {
    samples.push(await oneSetup(open, i));
  }
  const controllerCpu = (processCpuSeconds(cluster.controller.child.pid!) ?? NaN) - controllerBefore;
  const workerCpu = (processCpuSeconds(worker) ?? NaN) - workerBefore;
  await sleep(STATS_SETTLE_MS);
  const counted = (await transactions(db)) - before - idleRate * (performance.now() - started);
  const summary = summarise(samples);
  return {
    target,
    wallP50: summary.p50,
    wallP99: summary.p99,
    controllerCpuMs: (controllerCpu * 1000) / setups,
    workerCpuMs: (workerCpu * 1000) / setups,
    transactions: Math.max(counted, 0) / setups,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { setups: { type: 'string', default: '500' } } });
  const setups = Number(values.setups);
  if (!Number.isInteger(setups) || setups <= 0) {
    throw new Error('--setups must be a positive integer');
  }
  const echo = createServer((socket: Socket) => {
    // A session that ends without a half-close resets its target connection: nothing to report here.
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as AddressInfo).port;
  const cluster = await startBenchCluster({ workers: 1 });
  const db = new Client({ connectionString: cluster.databaseUrl });
  await db.connect();
  const rows: Row[] = [];
  try {
    await createUntilRunning(cluster.client, 'setup-vm');
    const worker = workerPid();
    const [workerName] = cluster.workerNames;
    rows.push(
      await measure(cluster, db, worker, 'VM port (synthetic echo, port 7)', setups, () =>
        cluster.client.vms.portForward('setup-vm', { port: 7, halfClose: true }),
      ),
      await measure(cluster, db, worker, 'worker host port (echo)', setups, () =>
        cluster.client.workers.portForward(workerName, { port: echoPort, halfClose: true }),
      ),
    );
  } finally {
    await db.end();
    await cluster.stop();
    echo.close();
  }
  console.log(`Tunnel session setup: ${setups} sequential sessions per target, loopback, node ${process.version}`);
  console.log('');
  console.log(
    '| target | wall p50 / p99 ms | controller CPU ms / session | worker CPU ms / session | DB transactions / session |',
  );
  console.log('|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.target} | ${formatMs(row.wallP50)} / ${formatMs(row.wallP99)} | ${row.controllerCpuMs.toFixed(2)} | ` +
        `${row.workerCpuMs.toFixed(2)} | ${row.transactions.toFixed(2)} |`,
    );
  }
  console.log(`\nCommand: node e2e/dist/bench/tunnel-setup.bench.js --setups ${setups}`);
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
