import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { webSocketStream, type GroveClient } from '@grove/client';
import { waitFor } from '@grove/testing';
import { startBenchHaCluster, type BenchHaCluster, type BenchHaWorker, type BenchReplica } from './bench-ha-cluster';
import { formatMs, summarise, type Summary } from './stats';
import { concurrentEcho, pingPong, throughputDown, throughputUp, type Dial, attemptMeasure } from './support/measure';
import { processCpuSeconds } from './support/process-cpu';
import { startTargets, type TargetPorts } from './support/targets';

/**
 * Several controllers (issue 11, Deliver 8): two controller replicas on one throwaway Postgres behind HAProxy (TCP
 * mode), two synthetic workers connected through it, everything on loopback.
 *
 * 1. Relay cost: the same sessions through the replica holding the worker's session ("direct": client → A → worker)
 *    and through the other one ("relayed": client → B → A → worker, B's RelayClient to A's ReplicaService). Port-forward
 *    to the target services on the worker host (sink, source, echo; the tunnel benchmark's), throughput each way,
 *    session setup (dial → first echoed byte), 1-byte round trips, and `POST /v1/vms/{name}/exec` `true` on a warm
 *    VM. Direct and relayed samples alternate, so that load from elsewhere on the machine hits both alike.
 * 2. Worker failover: the replica holding ha-worker-1 is stopped with SIGTERM (it sends GoingAway, the worker opens a
 *    new session at once) or SIGKILL (the worker sees its connection drop), and each worker it held is timed from the
 *    signal until its log shows a new session and until `GET /v1/workers` on the survivor names the survivor. Before a
 *    SIGKILL the sessions are left up for STABLE_SESSION_MS (10 s) and a little more: a shorter session counts as a
 *    failed attempt for the worker's back-off (apps/worker/src/session/backoff.ts), which is not what is measured.
 * 3. Scheduler takeover: the replica whose log says it runs the scheduler is SIGKILLed, a VM is created through the
 *    survivor at once, and timed until it has a worker (and until it runs: when it lands on a worker that was held by
 *    the killed replica, that includes the worker's reconnect, hence the same wait for stable sessions first).
 *
 * Each replica stopped is started again before the next repetition. Bounded by the flags (defaults: about 2 minutes).
 *
 *   npm run bench:ha
 *   npm run bench:ha -- --mib 64 --runs 1 --setups 20 --pings 100 --execs 20 --failovers 1 --takeovers 1
 */

const MiB = 1024 * 1024;
const EXEC_VM = 'ha-bench-exec';
/** The worker's STABLE_SESSION_MS plus a margin (see 2. above). */
const STABLE_SESSION_WAIT_MS = 11_000;
const LEADER_LINE = 'this controller runs the scheduler';

interface Options {
  mib: number;
  runs: number;
  setups: number;
  pings: number;
  execs: number;
  failovers: number;
  takeovers: number;
  shutdownGrace: string;
  timeoutMs: number;
}

/** One way to reach the worker: through the replica holding its session, or through the other one. */
interface Route {
  name: 'direct' | 'relayed';
  replica: BenchReplica;
  dialEcho: Dial;
  dialSink: Dial;
  dialSource: Dial;
}

/** The processes whose CPU time is counted during the throughput runs. */
const CPU_OF = ['bench', 'holder', 'other', 'worker'] as const;
type CpuOf = (typeof CPU_OF)[number];

interface RouteResults {
  up: number[];
  down: number[];
  setup: number[];
  rtt?: Summary;
  exec: number[];
  /** CPU seconds each process used during this route's throughput runs (undefined: could not be read). */
  cpu: Record<CpuOf, number | undefined>;
  /** Bytes those runs moved. */
  cpuBytes: number;
}

interface Failover {
  signal: 'SIGTERM' | 'SIGKILL';
  worker: string;
  from: string;
  /** Signal → the worker logs a new session ("connected to …"). */
  sessionMs: number;
  /** Signal → `GET /v1/workers` on the survivor names the survivor as the holder. */
  holderMs: number;
  /** Signal → the stopped replica's process has exited. */
  exitMs: number;
  /** The delays the worker drew before its attempts (its log: "reconnecting in", "opening a new session in"), ms. */
  waits: number[];
}

interface Takeover {
  killed: string;
  /** Kill → the survivor logs that it runs the scheduler. */
  leaderMs: number;
  /** Kill → `POST /v1/vms` through the survivor has answered. */
  createdMs: number;
  /** Kill → the VM has a worker. */
  scheduledMs: number;
  /** Kill → the VM runs. */
  runningMs: number;
  /** The worker the VM was placed on. */
  worker: string;
  /** Kill → that worker's new session, when its session was on the killed replica (else undefined). */
  workerReconnectMs?: number;
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

const errors: string[] = [];

/** Runs one measurement with a time limit; a failure is recorded for the report instead of ending the benchmark. */
function attempt<T>(what: string, timeoutMs: number, measure: () => Promise<T>): Promise<T | undefined> {
  return attemptMeasure('', what, timeoutMs, errors, measure);
}

function elapsedMs(since: number): number {
  return performance.now() - since;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Dial → first echoed byte of a new session, in ms (the tunnel benchmark's setup, one sample). */
async function setupOnce(dialEcho: Dial): Promise<number> {
  const started = performance.now();
  const stream = await dialEcho();
  try {
    await new Promise<void>((resolve, reject) => {
      stream.once('data', () => resolve());
      stream.once('error', reject);
      stream.once('close', () => reject(new Error('the session closed before the echo')));
      stream.write(Buffer.from([1]));
    });
    return elapsedMs(started);
  } finally {
    stream.destroy();
  }
}

/** `POST /v1/vms/{name}/exec` `true` through `client`, request → exit event, in ms. */
async function execOnce(client: GroveClient): Promise<number> {
  const started = performance.now();
  for await (const event of client.vms.execStream(EXEC_VM, { command: 'true' })) {
    if (event.event === 'exit') {
      if (event.code !== 0) {
        throw new Error(`true exited with ${event.code}`);
      }
      return elapsedMs(started);
    }
    if (event.event === 'error') {
      throw new Error(event.message);
    }
  }
  throw new Error('the exec stream ended without an exit event');
}

function route(name: Route['name'], replica: BenchReplica, worker: string, targets: TargetPorts): Route {
  const dial =
    (port: number): Dial =>
    async () =>
      webSocketStream(await replica.client.workers.portForward(worker, { port, halfClose: true }));
  return {
    name,
    replica,
    dialEcho: dial(targets.echo),
    dialSink: dial(targets.sink),
    dialSource: dial(targets.source),
  };
}

/** The replica holding `worker`'s session (waiting for one), and a running replica that does not. */
async function holderAndOther(
  cluster: BenchHaCluster,
  worker: string,
): Promise<{ holder: BenchReplica; other: BenchReplica }> {
  const holder = await waitFor(`a replica holding ${worker}`, () => cluster.holderOf(worker), 20_000, 50);
  const other = cluster.replicas.find((r) => r !== holder && r.running());
  if (!other) {
    throw new Error('no second replica is running');
  }
  return { holder, other };
}

async function ensureRunning(cluster: BenchHaCluster): Promise<void> {
  for (const replica of cluster.replicas) {
    if (!replica.running()) {
      await replica.start();
    }
  }
}

/** Part 1: direct against relayed, samples interleaved. */
async function measureRelay(
  cluster: BenchHaCluster,
  targets: TargetPorts,
  o: Options,
): Promise<{ routes: Route[]; results: Map<Route['name'], RouteResults> } | undefined> {
  const worker = cluster.workers[0].name;
  const { holder, other } = await holderAndOther(cluster, worker);
  const routes = [route('direct', holder, worker, targets), route('relayed', other, worker, targets)];
  const results = new Map<Route['name'], RouteResults>(
    routes.map((r) => [
      r.name,
      { up: [], down: [], setup: [], exec: [], cpu: { bench: 0, holder: 0, other: 0, worker: 0 }, cpuBytes: 0 },
    ]),
  );
  const of = (r: Route) => results.get(r.name)!;
  const pids: Record<CpuOf, number> = {
    bench: process.pid,
    holder: holder.pid(),
    other: other.pid(),
    worker: cluster.workers[0].process.child.pid ?? -1,
  };
  /** Runs one transfer of `bytes` and adds the CPU time every process used meanwhile to the route's account. */
  const counted = async (r: Route, bytes: number, transfer: () => Promise<number>): Promise<number> => {
    const before = CPU_OF.map((p) => processCpuSeconds(pids[p]));
    const result = await transfer();
    const account = of(r);
    CPU_OF.forEach((p, i) => {
      const [then, now, sum] = [before[i], processCpuSeconds(pids[p]), account.cpu[p]];
      account.cpu[p] = then === undefined || now === undefined || sum === undefined ? undefined : sum + now - then;
    });
    account.cpuBytes += bytes;
    return result;
  };
  progress(`relay: ${worker} is held by ${holder.name}; relayed sessions go through ${other.name}`);

  for (const r of routes) {
    const echo = await attempt(`${r.name}: echo check`, o.timeoutMs, () => concurrentEcho(r.dialEcho, 1, 64 * 1024));
    if (!echo || echo.failures > 0) {
      errors.push(`${r.name}: the echo check failed${echo?.firstError ? `: ${echo.firstError.message}` : ''}`);
      return undefined;
    }
  }
  const bytes = o.mib * MiB;
  await attempt(`user→worker host ${o.mib} MiB × ${o.runs}, alternating`, o.timeoutMs * o.runs, async () => {
    for (let i = 0; i < o.runs; i++) {
      for (const r of routes) {
        of(r).up.push(await counted(r, bytes, () => throughputUp(r.dialSink, bytes)));
      }
    }
  });
  await attempt(`worker host→user ${o.mib} MiB × ${o.runs}, alternating`, o.timeoutMs * o.runs, async () => {
    for (let i = 0; i < o.runs; i++) {
      for (const r of routes) {
        of(r).down.push(await counted(r, bytes, () => throughputDown(r.dialSource, bytes)));
      }
    }
  });
  await attempt(`session setup × ${o.setups}, alternating`, o.timeoutMs, async () => {
    for (let i = 0; i < o.setups; i++) {
      for (const r of routes) {
        of(r).setup.push(await setupOnce(r.dialEcho));
      }
    }
  });
  for (const r of routes) {
    of(r).rtt = await attempt(`${r.name}: ${o.pings} round trips`, o.timeoutMs, () => pingPong(r.dialEcho, o.pings));
  }

  await attempt(`exec VM on ${worker}`, o.timeoutMs, async () => {
    await holder.client.vms.create({ name: EXEC_VM, image: 'any', os: 'linux', labels: { pin: worker } });
    await waitFor(
      `${EXEC_VM} to run`,
      async () => (await holder.client.vms.get(EXEC_VM)).status === 'running',
      60_000,
      100,
    );
    // Warm-up: the first execs pay for the agent connection and the tunnel pools' refill.
    for (let i = 0; i < 10; i++) {
      for (const r of routes) {
        await execOnce(r.replica.client);
      }
    }
  });
  await attempt(`exec \`true\` × ${o.execs}, alternating`, o.timeoutMs, async () => {
    for (let i = 0; i < o.execs; i++) {
      for (const r of routes) {
        of(r).exec.push(await execOnce(r.replica.client));
      }
    }
  });
  await attempt(`delete ${EXEC_VM}`, o.timeoutMs, () => holder.client.vms.delete(EXEC_VM));

  // A reconnect in between would have made the "relayed" samples direct ones (or the reverse).
  const after = await cluster.holderOf(worker);
  if (after !== holder) {
    errors.push(`${worker} moved from ${holder.name} to ${after?.name ?? 'nowhere'} during the relay measurements`);
  }
  return { routes, results };
}

/**
 * Waits until every worker of `workers` has had its session for STABLE_SESSION_WAIT_MS, so that losing it counts as
 * the end of a good session for the worker's back-off (see 2. above).
 */
async function stableSessions(workers: BenchHaWorker[], sessionSince: Map<string, number>): Promise<void> {
  const ready = Math.max(0, ...workers.map((w) => (sessionSince.get(w.name) ?? 0) + STABLE_SESSION_WAIT_MS));
  await delay(Math.max(0, ready - performance.now()));
}

/** Resolves with the ms from `started` until `worker` logs a session after its `before`th, and notes when. */
async function newSession(
  worker: BenchHaWorker,
  before: number,
  started: number,
  sessionSince: Map<string, number>,
  timeoutMs: number,
): Promise<number> {
  const ms = await waitFor(
    `${worker.name}'s new session`,
    () => worker.sessions() > before && elapsedMs(started),
    timeoutMs,
    5,
  );
  sessionSince.set(worker.name, started + ms);
  return ms;
}

/** Part 2: one stop of the replica holding the first worker; a sample per worker it held. */
async function failoverOnce(
  cluster: BenchHaCluster,
  signal: Failover['signal'],
  sessionSince: Map<string, number>,
  timeoutMs: number,
): Promise<Failover[]> {
  await ensureRunning(cluster);
  const { holder: victim, other: survivor } = await holderAndOther(cluster, cluster.workers[0].name);
  const affected: BenchHaWorker[] = [];
  for (const worker of cluster.workers) {
    if ((await cluster.holderOf(worker.name, survivor)) === victim) {
      affected.push(worker);
    }
  }
  if (signal === 'SIGKILL') {
    await stableSessions(affected, sessionSince);
  }
  const before = new Map(affected.map((w) => [w.name, w.sessions()]));
  const logged = new Map(affected.map((w) => [w.name, w.process.output().length]));
  const started = performance.now();
  const exited = victim.stop(signal).then(() => elapsedMs(started));
  const samples = await Promise.all(
    affected.map(async (worker): Promise<Failover> => {
      const [sessionMs, holderMs] = await Promise.all([
        newSession(worker, before.get(worker.name)!, started, sessionSince, timeoutMs),
        waitFor(
          `${survivor.name} to hold ${worker.name}`,
          async () => (await cluster.holderOf(worker.name, survivor)) === survivor && elapsedMs(started),
          timeoutMs,
          10,
        ),
      ]);
      const since = worker.process.output().slice(logged.get(worker.name));
      const waits = [...since.matchAll(/(?:reconnecting|opening a new session) in (\d+(?:\.\d+)?) s/g)].map(
        (m) => Number(m[1]) * 1000,
      );
      return { signal, worker: worker.name, from: victim.name, sessionMs, holderMs, exitMs: 0, waits };
    }),
  );
  const exitMs = await exited;
  await victim.start();
  return samples.map((s) => ({ ...s, exitMs }));
}

/** How many times `replica`'s current process logged that it runs the scheduler. */
function leaderLines(replica: BenchReplica): number {
  return replica.output().split(LEADER_LINE).length - 1;
}

/** The replica whose current process last said it runs the scheduler (a non-leader never says anything). */
function leaderOf(cluster: BenchHaCluster): BenchReplica | undefined {
  const leaders = cluster.replicas.filter((r) => {
    const out = r.output();
    return r.running() && out.lastIndexOf(LEADER_LINE) > out.lastIndexOf('another controller runs the scheduler');
  });
  return leaders.length === 1 ? leaders[0] : undefined;
}

/** Part 3: SIGKILL the scheduler's replica, create a VM through the survivor, time until it is placed. */
async function takeoverOnce(
  cluster: BenchHaCluster,
  index: number,
  sessionSince: Map<string, number>,
  timeoutMs: number,
): Promise<Takeover> {
  await ensureRunning(cluster);
  const leader = await waitFor('one replica that runs the scheduler', () => leaderOf(cluster), 20_000, 50);
  const survivor = cluster.replicas.find((r) => r !== leader)!;
  const lines = leaderLines(survivor);
  const heldByLeader: BenchHaWorker[] = [];
  for (const worker of cluster.workers) {
    if ((await cluster.holderOf(worker.name, survivor)) === leader) {
      heldByLeader.push(worker);
    }
  }
  // The VM may land on one of them: how soon it runs depends on that worker's reconnect, measured in part 2.
  await stableSessions(heldByLeader, sessionSince);
  const before = heldByLeader.map((w) => w.sessions());
  const vm = `ha-bench-takeover-${index}`;
  const started = performance.now();
  const killed = leader.stop('SIGKILL');
  const reconnected = Promise.all(
    heldByLeader.map((w, i) => newSession(w, before[i], started, sessionSince, timeoutMs)),
  );
  const leading = waitFor(
    `${survivor.name} to run the scheduler`,
    () => leaderLines(survivor) > lines && elapsedMs(started),
    timeoutMs,
    5,
  );
  await survivor.client.vms.create({ name: vm, image: 'any', os: 'linux' });
  const createdMs = elapsedMs(started);
  const scheduledMs = await waitFor(
    `${vm} to be scheduled`,
    async () => ((await survivor.client.vms.get(vm)).worker ? elapsedMs(started) : false),
    timeoutMs,
    10,
  );
  const runningMs = await waitFor(
    `${vm} to run`,
    async () => (await survivor.client.vms.get(vm)).status === 'running' && elapsedMs(started),
    timeoutMs,
    10,
  );
  const leaderMs = await leading;
  const worker = (await survivor.client.vms.get(vm)).worker ?? '';
  const reconnects = await reconnected;
  const moved = heldByLeader.findIndex((w) => w.name === worker);
  await killed;
  await survivor.client.vms.delete(vm);
  await leader.start();
  return {
    killed: leader.name,
    leaderMs,
    createdMs,
    scheduledMs,
    runningMs,
    worker,
    ...(moved >= 0 ? { workerReconnectMs: reconnects[moved] } : {}),
  };
}

const NA = '—';

function medianBest(values: number[]): string {
  if (!values.length) {
    return NA;
  }
  const sorted = [...values].sort((a, b) => a - b);
  return `${sorted[Math.floor((sorted.length - 1) / 2)].toFixed(0)} / ${sorted[sorted.length - 1].toFixed(0)}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function p50p99(values: number[], format = formatMs): string {
  if (!values.length) {
    return NA;
  }
  const s = summarise(values);
  return `${format(s.p50)} / ${format(s.p99)}`;
}

function ratio(relayed: number | undefined, direct: number | undefined): string {
  return relayed !== undefined && direct !== undefined && direct > 0 ? `${(relayed / direct).toFixed(2)}×` : NA;
}

function reportRelay(routes: Route[], results: Map<Route['name'], RouteResults>, o: Options): void {
  const [direct, relayed] = routes.map((r) => results.get(r.name)!);
  const p50 = (v: number[]) => (v.length ? summarise(v).p50 : undefined);
  console.log(
    `\nRelay cost: ${routes[0].replica.name} holds the worker's session; "relayed" enters through ${routes[1].replica.name}\n`,
  );
  console.log('| measurement | direct (client → A → worker) | relayed (client → B → A → worker) | relayed / direct |');
  console.log('|---|---|---|---|');
  const row = (name: string, d: string, r: string, x: string) => console.log(`| ${name} | ${d} | ${r} | ${x} |`);
  row(
    `user→worker host MB/s, ${o.mib} MiB × ${o.runs} (median / best)`,
    medianBest(direct.up),
    medianBest(relayed.up),
    direct.up.length && relayed.up.length ? ratio(median(relayed.up), median(direct.up)) : NA,
  );
  row(
    `worker host→user MB/s, ${o.mib} MiB × ${o.runs} (median / best)`,
    medianBest(direct.down),
    medianBest(relayed.down),
    direct.down.length && relayed.down.length ? ratio(median(relayed.down), median(direct.down)) : NA,
  );
  row(
    `session setup ms, ${direct.setup.length} each (p50 / p99)`,
    p50p99(direct.setup),
    p50p99(relayed.setup),
    ratio(p50(relayed.setup), p50(direct.setup)),
  );
  row(
    `1-byte round trip µs, ${o.pings} each (p50 / p99)`,
    direct.rtt ? `${direct.rtt.p50.toFixed(0)} / ${direct.rtt.p99.toFixed(0)}` : NA,
    relayed.rtt ? `${relayed.rtt.p50.toFixed(0)} / ${relayed.rtt.p99.toFixed(0)}` : NA,
    ratio(relayed.rtt?.p50, direct.rtt?.p50),
  );
  row(
    `\`POST /v1/vms/{name}/exec\` \`true\` ms, ${direct.exec.length} each (p50 / p99)`,
    p50p99(direct.exec),
    p50p99(relayed.exec),
    ratio(p50(relayed.exec), p50(direct.exec)),
  );
}

/** Where the CPU goes while bulk data moves: CPU seconds per GB moved, per process (both cores are busy). */
function reportCpu(routes: Route[], results: Map<Route['name'], RouteResults>): void {
  const [a, b] = [routes[0].replica.name, routes[1].replica.name];
  console.log('\nCPU seconds per GB moved during the throughput runs (both directions), per process:\n');
  console.log(`| route | bench (client + targets) | ${a} (holds the session) | ${b} | worker | all four |`);
  console.log('|---|---|---|---|---|---|');
  for (const r of routes) {
    const { cpu, cpuBytes } = results.get(r.name)!;
    const perGb = (seconds: number | undefined) =>
      seconds === undefined || cpuBytes === 0 ? NA : (seconds / (cpuBytes / 1e9)).toFixed(2);
    const known = CPU_OF.map((p) => cpu[p]);
    const total = known.includes(undefined) ? undefined : known.reduce<number>((sum, v) => sum + (v ?? 0), 0);
    console.log(`| ${r.name} | ${CPU_OF.map((p) => perGb(cpu[p])).join(' | ')} | ${perGb(total)} |`);
  }
}

function list(values: number[]): string {
  return values.map((v) => v.toFixed(0)).join(', ');
}

function reportFailovers(failovers: Failover[]): void {
  console.log('\nWorker failover: the replica holding the worker is stopped; from the signal until…\n');
  console.log(
    '| signal | samples | new session in the worker log p50 / max ms | survivor named holder p50 / max ms | replica exited p50 ms |',
  );
  console.log('|---|---|---|---|---|');
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    const rows = failovers.filter((f) => f.signal === signal);
    if (!rows.length) {
      continue;
    }
    const session = summarise(rows.map((f) => f.sessionMs));
    const holder = summarise(rows.map((f) => f.holderMs));
    const exit = summarise([...new Set(rows.map((f) => f.exitMs))]);
    console.log(
      `| ${signal === 'SIGTERM' ? 'SIGTERM (GoingAway)' : 'SIGKILL'} | ${rows.length} | ` +
        `${formatMs(session.p50)} / ${formatMs(session.max)} | ${formatMs(holder.p50)} / ${formatMs(holder.max)} | ` +
        `${formatMs(exit.p50)} |`,
    );
  }
  console.log(
    '\nEvery sample (ms: new session / survivor named; the delays the worker drew before each attempt, from its log):',
  );
  for (const f of failovers) {
    console.log(
      `- ${f.signal} ${f.from}, ${f.worker}: ${f.sessionMs.toFixed(0)} / ${f.holderMs.toFixed(0)} ` +
        `(waited ${f.waits.map((w) => w.toFixed(0)).join(' + ') || '0'})`,
    );
  }
}

function reportTakeovers(takeovers: Takeover[]): void {
  console.log(
    '\nScheduler takeover: the scheduler replica is SIGKILLed, a VM is created through the survivor at once\n',
  );
  console.log('| from the kill until… | samples | p50 ms | max ms | every sample ms |');
  console.log('|---|---|---|---|---|');
  const row = (what: string, values: number[]) => {
    const s = summarise(values);
    console.log(`| ${what} | ${s.count} | ${formatMs(s.p50)} | ${formatMs(s.max)} | ${list(values)} |`);
  };
  row(
    '`POST /v1/vms` through the survivor answered',
    takeovers.map((t) => t.createdMs),
  );
  row(
    'the survivor logs "runs the scheduler"',
    takeovers.map((t) => t.leaderMs),
  );
  row(
    'the VM has a worker (scheduled)',
    takeovers.map((t) => t.scheduledMs),
  );
  row(
    'the VM runs',
    takeovers.map((t) => t.runningMs),
  );
  console.log('\nWhere each VM went:');
  for (const t of takeovers) {
    const how =
      t.workerReconnectMs === undefined
        ? 'its session stayed up'
        : `its session was on ${t.killed}; new session after ${t.workerReconnectMs.toFixed(0)} ms`;
    console.log(
      `- ${t.killed} killed: the VM went to ${t.worker} (${how}); running after ${t.runningMs.toFixed(0)} ms`,
    );
  }
}

function commandLine(): string {
  const args = process.argv.slice(2).map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg}'`));
  return `npm run bench:ha${args.length ? ` -- ${args.join(' ')}` : ''}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mib: { type: 'string', default: '256' },
      runs: { type: 'string', default: '3' },
      setups: { type: 'string', default: '200' },
      pings: { type: 'string', default: '1000' },
      execs: { type: 'string', default: '200' },
      failovers: { type: 'string', default: '4' },
      takeovers: { type: 'string', default: '3' },
      'shutdown-grace': { type: 'string', default: '2s' },
      'timeout-s': { type: 'string', default: '120' },
    },
  });
  const o: Options = {
    mib: Number(values.mib),
    runs: Number(values.runs),
    setups: Number(values.setups),
    pings: Number(values.pings),
    execs: Number(values.execs),
    failovers: Number(values.failovers),
    takeovers: Number(values.takeovers),
    shutdownGrace: values['shutdown-grace'],
    timeoutMs: Number(values['timeout-s']) * 1000,
  };
  for (const [name, value] of Object.entries(o)) {
    if (typeof value === 'number' && (!Number.isFinite(value) || value < 0)) {
      throw new Error(`${name} must be a non-negative number (see the flags in ha.bench.ts)`);
    }
  }

  const targets = await startTargets();
  let cluster: BenchHaCluster | undefined;
  // Ctrl-C ends every process the bench started, not just the bench.
  const interrupted = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping the cluster...`);
    void Promise.allSettled([cluster?.stop(), targets.close()]).then(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const wallStarted = performance.now();
  try {
    progress('starting Postgres, 2 controllers, HAProxy and 2 synthetic workers...');
    cluster = await startBenchHaCluster({
      replicas: 2,
      workers: 2,
      controllerArgs: ['--shutdown-grace', o.shutdownGrace],
    });
    const sessionSince = new Map(cluster.workers.map((w) => [w.name, performance.now()]));
    const started = cluster;

    progress('1. relayed against direct sessions');
    const relay = await measureRelay(started, targets, o);

    progress('2. worker failover');
    const failovers: Failover[] = [];
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      for (let i = 0; i < o.failovers; i++) {
        const samples = await attempt(`${signal} ${i + 1}/${o.failovers}`, o.timeoutMs, () =>
          failoverOnce(started, signal, sessionSince, o.timeoutMs),
        );
        failovers.push(...(samples ?? []));
        for (const s of samples ?? []) {
          progress(
            `    ${s.worker} left ${s.from}: new session ${s.sessionMs.toFixed(0)} ms, named ${s.holderMs.toFixed(0)} ms`,
          );
        }
      }
    }

    progress('3. scheduler takeover');
    const takeovers: Takeover[] = [];
    for (let i = 0; i < o.takeovers; i++) {
      const sample = await attempt(`takeover ${i + 1}/${o.takeovers}`, o.timeoutMs, () =>
        takeoverOnce(started, i, sessionSince, o.timeoutMs),
      );
      if (sample) {
        takeovers.push(sample);
        progress(`    ${sample.killed} killed: scheduled after ${sample.scheduledMs.toFixed(0)} ms`);
      }
    }

    console.log(
      'Several controllers: 2 replicas on one Postgres behind HAProxy (TCP mode), 2 synthetic workers, loopback',
    );
    console.log(
      `node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), Postgres ${started.postgres}, ` +
        `--shutdown-grace ${o.shutdownGrace}; MB = 1e6 bytes; ${((performance.now() - wallStarted) / 1000).toFixed(0)} s in all`,
    );
    if (relay) {
      reportRelay(relay.routes, relay.results, o);
      reportCpu(relay.routes, relay.results);
    }
    if (failovers.length) {
      reportFailovers(failovers);
    }
    if (takeovers.length) {
      reportTakeovers(takeovers);
    }
    if (errors.length) {
      console.log(`\nFailures:\n${errors.map((e) => `- ${e}`).join('\n')}`);
      process.exitCode = 1;
    }
    console.log(`\nCommand: ${commandLine()}`);
  } finally {
    await cluster?.stop();
    await targets.close();
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
