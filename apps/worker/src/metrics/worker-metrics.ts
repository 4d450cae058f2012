import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { EXEC_RESULTS, EXEC_VIAS, type ExecResult, type ExecVia } from '../exec/exec-server';
import type { TartObserver } from '../runtime/tart/tart-runtime';
import { MANAGED_VM_STATES, VM_STEPS, type ManagedVmState, type VmStep } from '../vms/managed-vm';

/** The tart commands the worker runs, whose failures are counted from zero (see `startAtZero`). */
const TART_COMMANDS = ['pull', 'clone', 'set', 'run', 'stop', 'suspend', 'delete', 'ip', 'fqn', 'get', 'list'];
/** The tart commands that download images. */
const PULL_COMMANDS = ['pull', 'clone'];

/** The states of `grove_worker_tunnel_streams`: waiting in the pool, or carrying a session. */
export type TunnelStreamState = 'idle' | 'busy';

/** Step durations range from milliseconds (a `tart set`) to tens of minutes (a pull of a 60 GB image). */
const STEP_BUCKETS = [0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2400];
/** Downloads take seconds for a small image, an hour for the largest Xcode images on a slow link. */
const PULL_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1200, 2400, 3600];

/**
 * The worker's Prometheus metrics (issue 14), in a registry of their own: tests run several workers in one process,
 * and each serves only its own numbers. Counters and histograms are fed by the parts that see the events (through the
 * narrow callbacks below, so that none of them knows prom-client); gauges are read from their sources when scraped.
 * The names are part of the interface (dashboards and alerts use them): docs/observability.md lists them.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly vmStepSeconds: Histogram<'step'>;
  private readonly tartFailures: Counter<'command'>;
  private readonly execs: Counter<'via' | 'result'>;
  private readonly pullBytes: Counter<'command'>;
  private readonly pullSeconds: Histogram<'command'>;
  private vmStates: () => Iterable<ManagedVmState> = () => [];
  private readonly streamSources: { state: TunnelStreamState; count: () => number }[] = [];
  private readonly idleLinkSources: (() => number)[] = [];

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.vmStepSeconds = new Histogram({
      name: 'grove_worker_vm_step_seconds',
      help: 'How long each step of starting, stopping and deleting a VM took on this worker (completed steps only).',
      labelNames: ['step'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.tartFailures = new Counter({
      name: 'grove_worker_tart_failures_total',
      help: 'tart commands that failed (not cancelled, not an exit Grove takes as done), by subcommand.',
      labelNames: ['command'],
      registers,
    });
    this.execs = new Counter({
      name: 'grove_worker_exec_total',
      help: 'Exec sessions served, by how the command ran (agent, ssh, or none when it never started) and how it ended.',
      labelNames: ['via', 'result'],
      registers,
    });
    this.pullBytes = new Counter({
      name: 'grove_worker_image_pull_bytes_total',
      help: 'Compressed image bytes Tart said it was downloading ("pulling disk (N GB compressed)"), by tart command.',
      labelNames: ['command'],
      registers,
    });
    this.pullSeconds = new Histogram({
      name: 'grove_worker_image_pull_seconds',
      help: 'How long tart pull or tart clone took when it downloaded an image, by tart command.',
      labelNames: ['command'],
      buckets: PULL_BUCKETS,
      registers,
    });
    this.startAtZero();
    const states = () => this.vmStates();
    new Gauge({
      name: 'grove_worker_vms',
      help: 'VMs this worker manages, by state.',
      labelNames: ['state'],
      registers,
      collect(this: Gauge<'state'>) {
        const counts = new Map<ManagedVmState, number>(MANAGED_VM_STATES.map((state) => [state, 0]));
        for (const state of states()) {
          counts.set(state, (counts.get(state) ?? 0) + 1);
        }
        for (const [state, count] of counts) {
          this.set({ state }, count);
        }
      },
    });
    const sources = this.streamSources;
    new Gauge({
      name: 'grove_worker_tunnel_streams',
      help: 'Tunnel streams to the controller: idle in the pool, or busy carrying a port-forward or exec session.',
      labelNames: ['state'],
      registers,
      collect(this: Gauge<'state'>) {
        for (const state of ['idle', 'busy'] as const) {
          this.set({ state }, sum(sources.filter((s) => s.state === state).map((s) => s.count())));
        }
      },
    });
    const links = this.idleLinkSources;
    new Gauge({
      name: 'grove_worker_idle_tunnel_links',
      help: 'Raw tunnel links to the controller waiting for a port-forward session (docs/tunnels.md "Raw byte streams").',
      registers,
      collect(this: Gauge) {
        this.set(sum(links.map((count) => count())));
      },
    });
  }

  /**
   * Gives every known label combination a series from the start: Prometheus' `rate()` and `increase()` see an event
   * only as a change from an earlier sample, so a series that first appears at 1 would hide the first step, failure or
   * exec of a worker (the controller does the same for its session metrics).
   */
  private startAtZero(): void {
    for (const step of VM_STEPS) {
      this.vmStepSeconds.zero({ step });
    }
    for (const command of TART_COMMANDS) {
      this.tartFailures.inc({ command }, 0);
    }
    for (const via of [...EXEC_VIAS, 'none']) {
      for (const result of EXEC_RESULTS) {
        this.execs.inc({ via, result }, 0);
      }
    }
    for (const command of PULL_COMMANDS) {
      this.pullBytes.inc({ command }, 0);
      this.pullSeconds.zero({ command });
    }
  }

  /** Where `grove_worker_vms` reads the states of the VMs from when scraped. */
  countVms(states: () => Iterable<ManagedVmState>): void {
    this.vmStates = states;
  }

  /** Adds a source of `grove_worker_tunnel_streams{state}`; several of one state are summed. */
  countTunnelStreams(state: TunnelStreamState, count: () => number): void {
    this.streamSources.push({ state, count });
  }

  /** Adds a source of `grove_worker_idle_tunnel_links` (the session's idle raw links). */
  countIdleLinks(count: () => number): void {
    this.idleLinkSources.push(count);
  }

  /** A step of a VM completed (ManagedVm, the startup script runner). */
  readonly vmStep = (step: VmStep, seconds: number): void => {
    this.vmStepSeconds.observe({ step }, seconds);
  };

  /** An exec session ended. */
  readonly execEnded = (via: ExecVia | undefined, result: ExecResult): void => {
    this.execs.inc({ via: via ?? 'none', result });
  };

  /** What the Tart runtime reports: failed commands and image downloads. */
  readonly tart: TartObserver = {
    commandFailed: (command) => this.tartFailures.inc({ command }),
    imageDownloaded: ({ command, bytes, seconds }) => {
      if (bytes !== undefined) {
        this.pullBytes.inc({ command }, bytes);
      }
      this.pullSeconds.observe({ command }, seconds);
    },
  };

  /** The Prometheus text exposition of every metric. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
