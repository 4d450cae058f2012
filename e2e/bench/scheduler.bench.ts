import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_CLUSTER_SETTINGS,
  newVm,
  setCondition,
  type SchedulerProfile,
  type Vm,
  type Worker,
} from '@grove/resources';
import { REPO } from './bench-cluster';
import { formatMs } from './stats';

/**
 * Scheduler complexity benchmark (issue 13): the controller's placement planning in memory, without a database, for
 * a fleet of --workers workers and --vms VMs. Cases:
 *
 * - all fit: every VM pending, the workers have room for twice as many; one pass places them all (the burst);
 * - one create: all VMs but one already placed, one pending (the pass that follows a create in a full fleet);
 * - all full: every worker holds 2 VMs and has no room for more, the rest pending (a pass places nothing and explains
 *   why to every pending VM).
 *
 * Each case is planned --runs times with both profiles; the table gives the median time of a pass (wall clock and the
 * process's CPU time) and the longest stretch the event loop could not run anything else (a 1 ms ticker measures it;
 * garbage collection pauses count). The placement module is loaded from
 * the controller's build output; `--placement` loads another build of it (e.g. of an earlier commit) for comparison.
 * A benchmark, not a test: nothing here fails on time.
 *
 *   npm run bench:scheduler -- --workers 500 --vms 10000 --runs 5 [--placement /other/apps/controller/dist/scheduler/placement.js]
 */

const NOW = new Date('2026-12-01T12:00:00Z');
const OFFLINE_MS = 180_000;

/** What the benchmark needs of the placement module; an older build has only the synchronous planner. */
interface PlacementModule {
  planPlacement(input: PlanInput): PlanResult;
  planPlacementSliced?(input: PlanInput, sliceMs?: number): Promise<PlanResult>;
}
interface PlanInput {
  vms: readonly Vm[];
  workers: readonly Worker[];
  profile: SchedulerProfile;
  now: Date;
  offlineTimeoutMs: number;
}
interface PlanResult {
  assignments: unknown[];
  unplaced: Array<{ reason: string }>;
}

function worker(i: number, slots: number): Worker {
  const name = `worker-${String(i).padStart(4, '0')}`;
  return {
    name,
    createdAt: NOW.toISOString(),
    last_seen: NOW.toISOString(),
    machine_id: name,
    scheduling_paused: false,
    resources: { 'org.cirruslabs.tart-vms': slots },
    labels: { pool: 'ci' },
    defaultCPU: 4,
    defaultMemory: 8192,
    arch: 'arm64',
    runtime: 'tart',
    capabilities: ['vm-exposed-ports', 'vm-endpoints'],
  };
}

function vm(i: number): Vm {
  const uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  return newVm(
    { name: `vm-${i}`, image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest', labels: { pool: 'ci' } },
    DEFAULT_CLUSTER_SETTINGS,
    uid,
    new Date(NOW.getTime() - 3_600_000 + i),
  );
}

function placed(v: Vm, on: Worker): Vm {
  return { ...v, worker: on.name, conditions: setCondition(v.conditions, 'scheduled', true), status: 'running' };
}

interface Case {
  name: string;
  workers: Worker[];
  vms: Vm[];
}

function cases(workerCount: number, vmCount: number): Case[] {
  const roomy = Array.from({ length: workerCount }, (_, i) => worker(i, Math.ceil((2 * vmCount) / workerCount)));
  const full = Array.from({ length: workerCount }, (_, i) => worker(i, 2));
  const fresh = Array.from({ length: vmCount }, (_, i) => vm(i));
  return [
    { name: `all fit: ${vmCount} pending, room for ${2 * vmCount}`, workers: roomy, vms: fresh },
    {
      name: `one create: ${vmCount - 1} placed, 1 pending`,
      workers: roomy,
      vms: fresh.map((v, i) => (i < vmCount - 1 ? placed(v, roomy[i % workerCount]) : v)),
    },
    {
      name: `all full: ${2 * workerCount} placed (2 per worker), ${vmCount - 2 * workerCount} pending`,
      workers: full,
      vms: fresh.map((v, i) => (i < 2 * workerCount ? placed(v, full[i % workerCount]) : v)),
    },
  ];
}

interface Sample {
  ms: number;
  cpuMs: number;
  blockMs: number;
  blockCpuMs: number;
}

/**
 * Runs `plan` while a 1 ms ticker watches the event loop; resolves with the pass's time, its CPU time (the process's,
 * garbage collection included) and the longest block, as wall-clock time and as the CPU time the process used in it.
 * On a busy machine the wall clock also counts the time other processes had the CPU; the CPU time does not.
 */
async function measure(plan: () => PlanResult | Promise<PlanResult>): Promise<Sample> {
  const cpuNow = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  let last = performance.now();
  let lastCpu = cpuNow();
  let blockMs = 0;
  let blockCpuMs = 0;
  const tick = () => {
    const t = performance.now();
    const c = cpuNow();
    blockMs = Math.max(blockMs, t - last);
    blockCpuMs = Math.max(blockCpuMs, c - lastCpu);
    last = t;
    lastCpu = c;
  };
  const ticker = setInterval(tick, 1);
  // Let the ticker start before the pass.
  await new Promise((r) => setTimeout(r, 5));
  last = performance.now();
  lastCpu = cpuNow();
  const started = performance.now();
  const cpu = process.cpuUsage();
  await plan();
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  await new Promise((r) => setImmediate(r));
  tick();
  clearInterval(ticker);
  return { ms, cpuMs, blockMs, blockCpuMs };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '500' },
      vms: { type: 'string', default: '10000' },
      runs: { type: 'string', default: '5' },
      placement: { type: 'string' },
    },
  });
  const modulePath = resolve(values.placement ?? join(REPO, 'apps', 'controller', 'dist', 'scheduler', 'placement.js'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a build chosen at run time, outside e2e's sources
  const placement = require(modulePath) as PlacementModule;
  const runs = Number(values.runs);
  const sliced = placement.planPlacementSliced !== undefined;
  console.log(
    `Scheduler planning in memory, ${values.workers} workers × ${values.vms} VMs, median of ${runs} runs ` +
      `(${sliced ? 'sliced planner' : 'synchronous planner'}: ${modulePath})\n`,
  );
  console.log(
    '| case | profile | pass ms | pass CPU ms | longest event-loop block ms (CPU ms in it) | placed | pending reason (bytes) |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const c of cases(Number(values.workers), Number(values.vms))) {
    for (const profile of ['optimize-utilization', 'distribute-load'] as const) {
      const input: PlanInput = { vms: c.vms, workers: c.workers, profile, now: NOW, offlineTimeoutMs: OFFLINE_MS };
      const samples: Sample[] = [];
      let result: PlanResult | undefined;
      for (let r = 0; r < runs; r++) {
        samples.push(
          await measure(async () => {
            result = sliced ? await placement.planPlacementSliced!(input) : placement.planPlacement(input);
            return result;
          }),
        );
      }
      const reason = result?.unplaced[0]?.reason ?? '';
      console.log(
        `| ${c.name} | ${profile} | ${formatMs(median(samples.map((s) => s.ms)))} | ` +
          `${formatMs(median(samples.map((s) => s.cpuMs)))} | ` +
          `${formatMs(Math.max(...samples.map((s) => s.blockMs)))} ` +
          `(${formatMs(Math.max(...samples.map((s) => s.blockCpuMs)))}) | ${result?.assignments.length ?? 0} | ` +
          `${reason ? Buffer.byteLength(reason) : '—'} |`,
      );
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
