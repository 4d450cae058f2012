import { BENCH_ADMIN, BENCH_ADMIN_TOKEN, startBenchCluster, type BenchCluster } from '../bench-cluster';
import { summarise, type Summary } from '../stats';
import { timeCliList } from './fleet-cli';
import { attemptMeasure } from './measure';
import { startProbe, wallNow, WorkerFleet, type LatencyLog } from './fleet-load';
import { CpuWindow, FleetDatabase, processMemoryMiB, timeList, type ListTiming } from './fleet-observe';

export interface FleetConfig {
  workers: number;
  vms: number;
  heartbeatMs: number;
  syncMs: number;
  trickleRate: number;
  trickleSeconds: number;
  burstConcurrency: number;
  lists: number;
  fullLists: number;
  steadySeconds: number;
  probeMs: number;
  /** Time limit of each wait for the scheduler (all placed, all reasons written). */
  settleMs: number;
  realWorkers: number;
  realVms: number;
}

const CREDENTIALS = { name: BENCH_ADMIN, token: BENCH_ADMIN_TOKEN };
export const IMAGE = 'ghcr.io/cirruslabs/macos-tahoe-base:latest';

/** What happened to the controller while one step ran. */
export interface StepLoad {
  seconds: number;
  cpuPercent?: number;
  /** Event-loop probe latency (see startProbe). */
  probe: Summary;
  heartbeat: Summary;
  sync: Summary;
  /** `scheduling pass:` lines the controller logged meanwhile. */
  passesLogged: number;
  /** The durations those lines give (`… in N ms`, logged by passes that changed something). */
  passMs: Summary;
}

export interface ListFigures {
  total: Summary;
  /** Controller CPU per list, background load (heartbeats, sync reads, passes) included. */
  cpuMsEach?: number;
  firstByte: Summary;
  wireBytes: number;
  bodyBytes: number;
  encoding: string;
}

export interface CreateRun {
  creates: number;
  failed: number;
  createsPerSecond: number;
  /** Create request sent → the VM's placement written, for the VMs placed within the time limit. */
  toScheduled: Summary;
  placed: number;
  /** Placed within 5 s of their create. */
  within5s: number;
  load: StepLoad;
}

export interface Memory {
  rss?: number;
  peak?: number;
}

/** A controller with a REST worker fleet, a placement log and the event-loop probe; `close()` stops everything. */
interface FleetRun {
  cluster: BenchCluster;
  db: FleetDatabase;
  fleet: WorkerFleet;
  probe: { log: LatencyLog; stop(): void };
  /** Starts measuring the controller's load; the returned function ends the window. */
  window(): () => StepLoad;
  close(): Promise<void>;
}

async function startFleetRun(config: FleetConfig, slots: number, label: string): Promise<FleetRun> {
  process.stderr.write(
    `${label}: starting a controller and registering ${config.workers} workers (${slots} slots each)\n`,
  );
  const cluster = await startBenchCluster();
  let db: FleetDatabase | undefined;
  let fleet: WorkerFleet | undefined;
  let probe: FleetRun['probe'] | undefined;
  const close = async () => {
    probe?.stop();
    fleet?.stop();
    await db?.close().catch(() => undefined);
    await cluster.stop();
  };
  try {
    db = await FleetDatabase.open(cluster.databaseUrl);
    const names = Array.from({ length: config.workers }, (_, i) => `fleet-worker-${i + 1}`);
    const workers = new WorkerFleet({
      url: cluster.url,
      credentials: CREDENTIALS,
      names,
      slots,
      heartbeatMs: config.heartbeatMs,
      syncMs: config.syncMs,
    });
    fleet = workers;
    await workers.register();
    probe = startProbe(cluster.url, config.probeMs);
    const probeLog = probe.log;
    const pid = cluster.controller.child.pid ?? -1;
    const window = () => {
      const cpu = new CpuWindow(pid);
      const logFrom = cluster.controller.output().length;
      return (): StepLoad => {
        const { percent, end } = cpu.end();
        const log = cluster.controller.output().slice(logFrom);
        return {
          seconds: (end - cpu.start) / 1000,
          cpuPercent: percent,
          probe: probeLog.between(cpu.start, end),
          heartbeat: workers.heartbeats.between(cpu.start, end),
          sync: workers.syncs.between(cpu.start, end),
          passesLogged: (log.match(/scheduling pass/g) ?? []).length,
          passMs: summarise(
            [...log.matchAll(/scheduling pass:[^\n]* in (\d+(?:\.\d+)?) ?ms/g)].map((m) => Number(m[1])),
          ),
        };
      };
    };
    return { cluster, db, fleet: workers, probe, window, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Creates `count` VMs named `<prefix>-<i>` with `concurrency` requests in flight, or (with `ratePerSecond`) one every
 * 1/rate s whatever the answers (an open loop, as independent users create), and waits until all are placed or
 * `settleMs` passes. Times run from each request's sending to its placement in the database.
 */
async function createAndPlace(
  run: FleetRun,
  prefix: string,
  count: number,
  pace: { concurrency: number } | { ratePerSecond: number },
  settleMs: number,
): Promise<CreateRun> {
  const { client } = run.cluster;
  const sent = new Map<string, number>();
  let failed = 0;
  const before = await run.db.placedCount();
  const endWindow = run.window();
  const create = async (i: number) => {
    const name = `${prefix}-${i}`;
    sent.set(name, wallNow());
    await client.vms.create({ name, image: IMAGE }).catch(() => failed++);
  };
  const started = performance.now();
  if ('concurrency' in pace) {
    let next = 0;
    const lane = async () => {
      while (next < count) {
        await create(next++);
      }
    };
    await Promise.all(Array.from({ length: pace.concurrency }, lane));
  } else {
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const due = started + (i * 1000) / pace.ratePerSecond;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      inFlight.push(create(i));
    }
    await Promise.all(inFlight);
  }
  const createSeconds = (performance.now() - started) / 1000;
  const expected = count - failed;
  const deadline = Date.now() + settleMs;
  while ((await run.db.placedCount()) - before < expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const load = endWindow();
  const placedAt = await run.db.placedAt();
  const latencies: number[] = [];
  for (const [name, at] of sent) {
    const placed = placedAt.get(name);
    if (placed !== undefined) {
      latencies.push(placed - at);
    }
  }
  return {
    creates: count,
    failed,
    createsPerSecond: count / createSeconds,
    toScheduled: summarise(latencies),
    placed: latencies.length,
    within5s: latencies.filter((ms) => ms <= 5000).length,
    load,
  };
}

/** `n` lists of `path`, one after another, each on a new connection. */
async function lists(run: FleetRun, path: string, n: number, gzip: boolean): Promise<ListFigures> {
  const timings: ListTiming[] = [];
  const cpu = new CpuWindow(run.cluster.controller.child.pid ?? -1);
  for (let i = 0; i < n; i++) {
    timings.push(await timeList(run.cluster.url, path, CREDENTIALS, { gzip }));
  }
  const { cpuSeconds } = cpu.end();
  const last = timings[timings.length - 1];
  return {
    total: summarise(timings.map((t) => t.totalMs)),
    cpuMsEach: cpuSeconds === undefined ? undefined : (cpuSeconds * 1000) / n,
    firstByte: summarise(timings.map((t) => t.firstByteMs)),
    wireBytes: last.wireBytes,
    bodyBytes: last.bodyBytes,
    encoding: last.encoding,
  };
}

/** The whole list page by page (`?limit=`, following `X-Next-Cursor`), `n` times: total time of each walk. */
async function pagedLists(url: string, pageSize: number, n: number): Promise<Summary> {
  const totals: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    let cursor: string | undefined;
    do {
      const query = `limit=${pageSize}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      cursor = (await timeList(url, `/v1/vms?${query}`, CREDENTIALS, { gzip: true })).nextCursor;
    } while (cursor);
    totals.push(performance.now() - started);
  }
  return summarise(totals);
}

export interface QuietCalls {
  heartbeat: Summary;
  heartbeatCpuMs?: number;
  heartbeatStatements: number;
  sync: Summary;
  syncStatements: number;
}

/** Heartbeats and sync reads alone (no other load): latency, controller CPU and database statements per call. */
async function quietCalls(run: FleetRun, n: number): Promise<QuietCalls> {
  const pid = run.cluster.controller.child.pid ?? -1;
  const { fleet } = run;
  let cpu: { cpuSeconds?: number } = {};
  const heartbeatFrom = wallNow();
  const heartbeatStatements = await run.db.statementsDuring(async () => {
    const window = new CpuWindow(pid);
    for (let i = 0; i < n; i++) {
      await fleet.heartbeat(i % fleet.size);
    }
    cpu = window.end();
  });
  const heartbeat = fleet.heartbeats.between(heartbeatFrom, wallNow());
  const syncFrom = wallNow();
  const syncStatements = await run.db.statementsDuring(async () => {
    for (let i = 0; i < n; i++) {
      await fleet.sync(i % fleet.size);
    }
  });
  return {
    heartbeat,
    heartbeatCpuMs: cpu.cpuSeconds === undefined ? undefined : (cpu.cpuSeconds * 1000) / n,
    heartbeatStatements: heartbeatStatements / n,
    sync: fleet.syncs.between(syncFrom, wallNow()),
    syncStatements: syncStatements / n,
  };
}

export interface AllFitResult {
  quiet?: QuietCalls;
  burst?: CreateRun;
  trickle?: CreateRun;
  list?: ListFigures;
  listGzip?: ListFigures;
  /** Walks of the whole list in pages of 1,000 (gzip); undefined when the controller does not page. */
  listPaged?: Summary;
  /** `grove list vms`, process start to exit. */
  cliList?: Summary;
  listLoad?: StepLoad;
  memory: Memory;
  errors: string[];
}

/**
 * Phase (a), all fit: every worker has room for all the VMs it gets. Quiet heartbeats first (0 VMs), then the burst
 * that creates the fleet's VMs, then a trickle while they all exist, then lists.
 */
export async function allFit(config: FleetConfig): Promise<AllFitResult> {
  const label = 'all-fit';
  const trickleCount = Math.round(config.trickleRate * config.trickleSeconds);
  const slots = Math.ceil(((config.vms + trickleCount) * 1.5) / config.workers);
  const run = await startFleetRun(config, slots, label);
  const errors: string[] = [];
  const step = <T>(what: string, limitMs: number, measure: () => Promise<T>) =>
    attemptMeasure(`${label}: `, what, limitMs, errors, measure);
  try {
    const quiet = await step('heartbeats and sync reads alone', 120_000, () => quietCalls(run, 200));
    run.fleet.start();
    const burst = await step(`burst of ${config.vms} creates`, config.settleMs + 600_000, () =>
      createAndPlace(run, 'burst', config.vms, { concurrency: config.burstConcurrency }, config.settleMs),
    );
    const trickle = await step(
      `trickle of ${config.trickleRate} creates/s for ${config.trickleSeconds} s`,
      config.trickleSeconds * 1000 + config.settleMs + 30_000,
      () => createAndPlace(run, 'trickle', trickleCount, { ratePerSecond: config.trickleRate }, config.settleMs),
    );
    const endLists = run.window();
    const listLimit = 120_000 + config.lists * 10_000;
    const list = await step(`${config.lists} lists`, listLimit, () => lists(run, '/v1/vms', config.lists, false));
    const listGzip = await step(`${config.lists} lists with gzip`, listLimit, () =>
      lists(run, '/v1/vms', config.lists, true),
    );
    // A controller without pagination answers 400 to ?limit=: that row then stays empty, without an error.
    const listPaged = await pagedLists(run.cluster.url, 1000, Math.max(1, Math.floor(config.lists / 4))).catch(
      () => undefined,
    );
    const cliRuns = Math.max(1, Math.floor(config.lists / 4));
    const cliList = await step(`${cliRuns} × grove list vms`, listLimit, () =>
      timeCliList(run.cluster.url, cliRuns, config.vms),
    );
    const listLoad = endLists();
    const memory = memoryOf(run.cluster);
    return { quiet, burst, trickle, list, listGzip, listPaged, cliList, listLoad, memory, errors };
  } finally {
    await run.close();
  }
}

export interface AllFullResult {
  create?: CreateRun;
  settled?: { placed: number; pending: number; explained: number; seconds: number };
  steady?: StepLoad;
  messages?: { p50: number; max: number; longest: string };
  list?: ListFigures;
  listGzip?: ListFigures;
  memory: Memory;
  errors: string[];
}

/**
 * Phase (b), all full: 2 slots per worker, so with 10,000 VMs and 500 workers 9,000 stay pending and every pass has
 * to say why for each of them.
 */
export async function allFull(config: FleetConfig): Promise<AllFullResult> {
  const label = 'all-full';
  const run = await startFleetRun(config, 2, label);
  const errors: string[] = [];
  const step = <T>(what: string, limitMs: number, measure: () => Promise<T>) =>
    attemptMeasure(`${label}: `, what, limitMs, errors, measure);
  const capacity = Math.min(config.vms, 2 * config.workers);
  try {
    run.fleet.start();
    // The settle limit bounds the wait for placements; the pending reasons are waited for below.
    const create = await step(`${config.vms} creates`, config.settleMs + 600_000, () =>
      createAndPlace(run, 'full', config.vms, { concurrency: config.burstConcurrency }, 0),
    );
    const settleStarted = performance.now();
    const settled = await step('placements and pending reasons', config.settleMs + 30_000, async () => {
      const deadline = Date.now() + config.settleMs;
      let state = await run.db.pendingState();
      while ((state.placed < capacity || state.explained < state.pending) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        state = await run.db.pendingState();
      }
      return { ...state, seconds: (performance.now() - settleStarted) / 1000 };
    });
    const endSteady = run.window();
    await new Promise((resolve) => setTimeout(resolve, config.steadySeconds * 1000));
    const steady = endSteady();
    const messages = await step('pending reasons', 120_000, () => run.db.pendingMessages());
    const listLimit = 120_000 + config.fullLists * 60_000;
    const list = await step(`${config.fullLists} lists`, listLimit, () =>
      lists(run, '/v1/vms', config.fullLists, false),
    );
    const listGzip = await step(`${config.fullLists} lists with gzip`, listLimit, () =>
      lists(run, '/v1/vms', config.fullLists, true),
    );
    return { create, settled, steady, messages, list, listGzip, memory: memoryOf(run.cluster), errors };
  } finally {
    await run.close();
  }
}

export function memoryOf(cluster: BenchCluster): Memory {
  return processMemoryMiB(cluster.controller.child.pid ?? -1);
}
