import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { findPostgresBinDir } from '@grove/testing';
import { formatMs, type Summary } from './stats';
import {
  allFit,
  allFull,
  type AllFitResult,
  type AllFullResult,
  type CreateRun,
  type FleetConfig,
  type ListFigures,
  type Memory,
  type StepLoad,
} from './support/fleet-phases';
import { realWorkers, type RealWorkersResult } from './support/fleet-real-workers';

/**
 * Fleet benchmark (issue 13): one controller process on a throwaway Postgres cluster (loopback only), 500 workers that
 * register, heartbeat and poll their VMs over REST as `grove worker run` does, and 10,000 VMs. Phases:
 *
 * - all-fit: heartbeats and sync reads alone (latency, controller CPU and SQL statements per call), a burst that creates
 *   the VMs (creates/s, create → placed), a trickle of creates while they all exist (create → placed, controller CPU,
 *   event-loop blocking seen by a probe), then `GET /v1/vms` (total and first byte; plain, gzip and paged);
 * - all-full: 2 slots per worker, so that most VMs stay pending: the length of their reasons, lists, heartbeats, CPU and
 *   memory of the controller while it settles;
 * - real workers (with --real-workers N): N synthetic worker processes, create → running 8 at a time.
 *
 * Bounded: every phase has counts and time limits, and stops everything it started. The development size finishes in
 * about a minute:
 *
 *   npm run bench:fleet -- --workers 50 --vms 1000 --trickle-seconds 10
 *   npm run bench:fleet                     # 500 workers, 10,000 VMs
 *   npm run bench:fleet -- --real-workers 50 --phases real
 */
const PHASES = ['all-fit', 'all-full', 'real'] as const;

function config(): { config: FleetConfig; phases: Set<string> } {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '500' },
      vms: { type: 'string', default: '10000' },
      'heartbeat-interval': { type: 'string', default: '15' },
      'sync-interval': { type: 'string', default: '5' },
      'trickle-rate': { type: 'string', default: '10' },
      'trickle-seconds': { type: 'string', default: '30' },
      'burst-concurrency': { type: 'string', default: '64' },
      lists: { type: 'string', default: '20' },
      'full-lists': { type: 'string', default: '5' },
      'steady-seconds': { type: 'string', default: '20' },
      settle: { type: 'string', default: '600' },
      'probe-interval': { type: 'string', default: '25' },
      'real-workers': { type: 'string', default: '0' },
      'real-vms': { type: 'string', default: '200' },
      phases: { type: 'string' },
    },
  });
  const number = (flag: keyof typeof values, min: number): number => {
    const n = Number(values[flag]);
    if (!Number.isFinite(n) || n < min) {
      throw new Error(`--${flag} must be a number of at least ${min}, got "${values[flag]}"`);
    }
    return n;
  };
  const realWorkerCount = number('real-workers', 0);
  const phases = new Set((values.phases ?? `all-fit,all-full${realWorkerCount > 0 ? ',real' : ''}`).split(','));
  for (const phase of phases) {
    if (!(PHASES as readonly string[]).includes(phase)) {
      throw new Error(`--phases: unknown phase "${phase}" (known: ${PHASES.join(', ')})`);
    }
  }
  if (phases.has('real') && realWorkerCount === 0) {
    throw new Error('--phases real needs --real-workers N');
  }
  return {
    phases,
    config: {
      workers: number('workers', 1),
      vms: number('vms', 1),
      heartbeatMs: number('heartbeat-interval', 0.1) * 1000,
      syncMs: number('sync-interval', 0) * 1000,
      trickleRate: number('trickle-rate', 0.1),
      trickleSeconds: number('trickle-seconds', 1),
      burstConcurrency: number('burst-concurrency', 1),
      lists: number('lists', 1),
      fullLists: number('full-lists', 1),
      steadySeconds: number('steady-seconds', 1),
      settleMs: number('settle', 1) * 1000,
      probeMs: number('probe-interval', 1),
      realWorkers: realWorkerCount,
      realVms: number('real-vms', 1),
    },
  };
}

const NA = 'n/a';

function p50p99(s: Summary | undefined, unit = 'ms'): string {
  return s && s.count > 0
    ? `p50 ${formatMs(s.p50)} / p99 ${formatMs(s.p99)} ${unit} (max ${formatMs(s.max)}, n=${s.count})`
    : NA;
}

function percent(p: number | undefined): string {
  return p === undefined ? NA : `${p.toFixed(0)} %`;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function memory(m: Memory): string {
  return m.rss === undefined ? NA : `${m.rss.toFixed(0)} MiB (peak ${m.peak?.toFixed(0) ?? '?'} MiB)`;
}

class Report {
  readonly rows: string[] = ['| phase | figure | measured | target |', '|---|---|---|---|'];

  row(phase: string, figure: string, measured: string, target = ''): void {
    this.rows.push(`| ${phase} | ${figure} | ${measured} | ${target} |`);
  }

  load(phase: string, what: string, load: StepLoad | undefined, cpuTarget = ''): void {
    if (!load) {
      return;
    }
    this.row(
      phase,
      `controller CPU during ${what} (${load.seconds.toFixed(0)} s)`,
      percent(load.cpuPercent),
      cpuTarget,
    );
    this.row(
      phase,
      `event-loop probe (GET /v1 every few ms) during ${what}`,
      p50p99(load.probe),
      'no block > 20 ms (probe max ≲ 20 ms)',
    );
    this.row(phase, `heartbeat PUT /v1/workers/{name} during ${what}`, p50p99(load.heartbeat), 'p99 ≲ 20 ms');
    this.row(phase, `worker sync GET /v1/vms?filter=worker= during ${what}`, p50p99(load.sync));
    this.row(
      phase,
      `\`scheduling pass\` log lines during ${what}, and the pass times they give`,
      `${load.passesLogged}; ${p50p99(load.passMs)}`,
    );
  }

  creates(
    phase: string,
    what: string,
    run: CreateRun | undefined,
    targets: { rate?: string; latency?: string },
    placement = true,
  ): void {
    if (!run) {
      return;
    }
    this.row(
      phase,
      `${what}: creates/s achieved`,
      `${run.createsPerSecond.toFixed(0)} (${run.failed} failed)`,
      targets.rate,
    );
    if (!placement) {
      return;
    }
    this.row(
      phase,
      `${what}: create → scheduled`,
      `${p50p99(run.toScheduled)}; ${run.placed}/${run.creates - run.failed} placed, ${run.within5s} within 5 s`,
      targets.latency,
    );
  }

  list(phase: string, what: string, list: ListFigures | undefined): void {
    if (!list) {
      return;
    }
    const size =
      list.encoding === 'gzip' ? `${mib(list.wireBytes)} gzip of ${mib(list.bodyBytes)}` : mib(list.bodyBytes);
    this.row(phase, `${what} (${size}): whole body`, p50p99(list.total), 'p99 ≤ 200 ms');
    this.row(phase, `${what}: first byte`, p50p99(list.firstByte), '≤ 50 ms');
    const cpu = list.cpuMsEach === undefined ? NA : `${list.cpuMsEach.toFixed(0)} ms`;
    this.row(phase, `${what}: controller CPU per list (background load included)`, cpu);
  }
}

function reportAllFit(report: Report, r: AllFitResult, c: FleetConfig): void {
  const phase = 'all-fit';
  if (r.quiet) {
    const q = r.quiet;
    report.row(phase, 'heartbeat alone', p50p99(q.heartbeat));
    report.row(
      phase,
      'heartbeat alone: controller CPU / SQL statements each (credentials lookups included, if any)',
      `${q.heartbeatCpuMs?.toFixed(2) ?? NA} ms / ${q.heartbeatStatements.toFixed(1)}`,
      'one statement',
    );
    report.row(phase, 'worker sync read alone (0 VMs)', p50p99(q.sync));
    report.row(
      phase,
      'worker sync read alone: SQL statements each (credentials lookups included, if any)',
      q.syncStatements.toFixed(1),
      'one statement',
    );
  }
  report.creates(phase, `burst of ${c.vms} creates (${c.burstConcurrency} in flight)`, r.burst, {
    rate: '≥ 500/s',
    latency: 'every VM within 5 s',
  });
  report.load(phase, 'the burst', r.burst?.load);
  report.creates(phase, `trickle of ${c.trickleRate}/s while ${c.vms} VMs exist`, r.trickle, {
    latency: 'p99 ≤ 100 ms',
  });
  report.load(phase, 'the trickle', r.trickle?.load, '≤ 30 %');
  report.list(phase, `GET /v1/vms, ${c.vms}+ VMs`, r.list);
  report.list(phase, `GET /v1/vms with gzip`, r.listGzip);
  report.row(phase, 'GET /v1/vms in pages of 1,000 (gzip), whole walk', r.listPaged ? p50p99(r.listPaged) : NA);
  report.row(phase, 'grove list vms, process start to exit (gzip, whole list)', p50p99(r.cliList));
  report.load(phase, 'the lists', r.listLoad);
  report.row(phase, 'controller RSS at the end', memory(r.memory));
}

function reportAllFull(report: Report, r: AllFullResult, c: FleetConfig): void {
  const phase = 'all-full';
  report.creates(phase, `${c.vms} creates (${c.burstConcurrency} in flight)`, r.create, {}, false);
  if (r.settled) {
    const s = r.settled;
    report.row(
      phase,
      'settled: placed / pending / pending with a reason',
      `${s.placed} / ${s.pending} / ${s.explained} after ${s.seconds.toFixed(0)} s`,
    );
  }
  if (r.messages) {
    report.row(
      phase,
      'pending VM status_message length',
      `p50 ${r.messages.p50} / max ${r.messages.max} characters`,
      'a few hundred bytes',
    );
  }
  report.load(phase, 'the steady state', r.steady, '≤ 30 %');
  report.list(phase, `GET /v1/vms, ${c.vms} VMs`, r.list);
  report.list(phase, 'GET /v1/vms with gzip', r.listGzip);
  report.row(phase, 'controller RSS at the end', memory(r.memory), '≤ 512 MiB');
  if (r.messages) {
    const text = r.messages.longest;
    report.rows.push('', `Longest pending reason (first 300 of ${text.length} characters): \`${text.slice(0, 300)}\``);
  }
}

function reportReal(report: Report, r: RealWorkersResult, c: FleetConfig): void {
  const phase = `${c.realWorkers} real workers`;
  report.row(phase, 'create → running, 8 at a time', p50p99(r.toRunning), 'p50 ≤ 100 ms, p99 ≤ 500 ms');
  report.row(phase, 'controller CPU', percent(r.cpuPercent));
  report.row(phase, 'controller RSS at the end', memory(r.memory));
}

async function main(): Promise<void> {
  const { config: c, phases } = config();
  const loadBefore = loadavg();
  const started = performance.now();
  const report = new Report();
  const errors: string[] = [];
  if (phases.has('all-fit')) {
    const r = await allFit(c);
    reportAllFit(report, r, c);
    errors.push(...r.errors.map((e) => `all-fit: ${e}`));
  }
  if (phases.has('all-full')) {
    const r = await allFull(c);
    reportAllFull(report, r, c);
    errors.push(...r.errors.map((e) => `all-full: ${e}`));
  }
  if (phases.has('real')) {
    const r = await realWorkers(c);
    reportReal(report, r, c);
    errors.push(...r.errors.map((e) => `real workers: ${e}`));
  }
  const loadAfter = loadavg();
  const cpu = cpus();
  console.log(`Command: node e2e/dist/bench/fleet.bench.js ${process.argv.slice(2).join(' ')}`.trimEnd());
  const postgres = `Postgres ${findPostgresBinDir().split('/').at(-2)}`;
  if (phases.has('all-fit') || phases.has('all-full')) {
    console.log(
      `Fleet: ${c.workers} REST workers (heartbeat every ${c.heartbeatMs / 1000} s, VM sync every ${c.syncMs / 1000} s), ` +
        `${c.vms} VMs, controller on ${postgres} (loopback)`,
    );
  }
  if (phases.has('real')) {
    console.log(`Real workers: ${c.realWorkers} synthetic worker processes, controller on ${postgres} (loopback)`);
  }
  console.log(
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? '?'}, ${mib(totalmem())} RAM, Node ${process.version}; ` +
      `load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after; ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s in all\n`,
  );
  console.log(report.rows.join('\n'));
  if (errors.length > 0) {
    console.log(`\nFailed or timed out:\n${errors.map((e) => `- ${e}`).join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
