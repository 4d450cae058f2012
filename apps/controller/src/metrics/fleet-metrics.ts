import { Inject, Injectable, Logger } from '@nestjs/common';
import { VM_STATUSES, type WorkerState } from '@grove/resources';
import { Gauge } from 'prom-client';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { DatabaseAvailability } from '../infra/database/database-availability.service';
import { FleetRepository, type FleetWorker, type VmCount } from './fleet.repository';
import { MetricsRegistry } from './metrics-registry';

/** The state of a worker in `grove_workers` and `GET /v1/status`: offline wins over paused. */
export function workerState(worker: Pick<FleetWorker, 'online' | 'paused'>): WorkerState {
  return !worker.online ? 'offline' : worker.paused ? 'paused' : 'online';
}

interface FleetSnapshot {
  vms: VmCount[];
  workers: FleetWorker[];
}

/**
 * The fleet gauges (issue 14): VMs by status and worker, workers by state, each worker's resources used and total, and
 * whether its session is up, read from the database when they are scraped. Every replica on one database reports the
 * same values (docs/observability.md: aggregate them with `max`). The database pool's connections come from this
 * process. When the database cannot be read, the fleet gauges are left out of that scrape, and the rest is served.
 */
@Injectable()
export class FleetMetrics {
  private readonly logger = new Logger(FleetMetrics.name);
  /** The read in progress: the registry asks every gauge at once, and one read serves them all. */
  private reading: Promise<FleetSnapshot | undefined> | undefined;

  constructor(
    metrics: MetricsRegistry,
    private readonly repository: FleetRepository,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    private readonly database: DatabaseAvailability,
  ) {
    const registers = [metrics.registry];
    // First: the registry runs collectors in order, and the pool is read before this scrape's own queries take from it.
    const pool: Gauge<'state'> = new Gauge({
      name: 'grove_db_pool_connections',
      help: "This controller's database pool: idle and active connections, and queries waiting for one.",
      labelNames: ['state'],
      registers,
      collect: () => {
        pool.reset();
        const counts = this.repository.poolCounts();
        if (counts) {
          pool.set({ state: 'idle' }, counts.idle);
          pool.set({ state: 'active' }, counts.active);
          pool.set({ state: 'waiting' }, counts.waiting);
        }
      },
    });
    const vms: Gauge<'status' | 'worker'> = new Gauge({
      name: 'grove_vms',
      help: 'VMs by status (pending, running, failed) and worker (none: not placed).',
      labelNames: ['status', 'worker'],
      registers,
      collect: () => this.fill(vms, setVms),
    });
    const workers: Gauge<'state'> = new Gauge({
      name: 'grove_workers',
      help: 'Workers by state: online, paused (online, scheduling paused) or offline (unseen past the offline timeout).',
      labelNames: ['state'],
      registers,
      collect: () => this.fill(workers, setWorkers),
    });
    const resources: Gauge<'worker' | 'resource' | 'kind'> = new Gauge({
      name: 'grove_worker_resources',
      help: "Each worker's resources: kind=total as it registered them, kind=used as its placed VMs take them.",
      labelNames: ['worker', 'resource', 'kind'],
      registers,
      collect: () => this.fill(resources, setResources),
    });
    const sessionUp: Gauge<'worker'> = new Gauge({
      name: 'grove_worker_session_up',
      help: "1 when the worker's gRPC session is held by a live controller replica, else 0.",
      labelNames: ['worker'],
      registers,
      collect: () => this.fill(sessionUp, setSessionUp),
    });
  }

  /** Sets `gauge` anew from this scrape's snapshot; leaves it empty when the database could not be read. */
  private async fill<T extends string>(
    gauge: Gauge<T>,
    set: (gauge: Gauge<T>, snapshot: FleetSnapshot) => void,
  ): Promise<void> {
    const snapshot = await this.snapshot();
    gauge.reset();
    if (snapshot) {
      set(gauge, snapshot);
    }
  }

  private snapshot(): Promise<FleetSnapshot | undefined> {
    if (!this.reading) {
      this.reading = this.read().finally(() => {
        this.reading = undefined;
      });
    }
    return this.reading;
  }

  private async read(): Promise<FleetSnapshot | undefined> {
    try {
      const [vms, workers] = await Promise.all([
        this.repository.vmCounts(),
        this.repository.workers(this.config.workerOfflineTimeoutMs),
      ]);
      return { vms, workers };
    } catch (err) {
      // An outage is logged once by DatabaseAvailability; anything else here, once per scrape.
      if (!this.database.report(err)) {
        this.logger.warn(`fleet metrics left out of this scrape: ${(err as Error).message}`);
      }
      return undefined;
    }
  }
}

/**
 * Every status on every worker, and on no worker, has a series (zero when there are no such VMs), so that a worker's
 * row on a dashboard reads 0 rather than nothing; VMs of a worker that no longer exists are counted too.
 */
function setVms(gauge: Gauge<'status' | 'worker'>, { vms, workers }: FleetSnapshot): void {
  for (const worker of ['', ...workers.map((w) => w.name)]) {
    for (const status of VM_STATUSES) {
      gauge.set({ status, worker }, 0);
    }
  }
  for (const { status, worker, count } of vms) {
    gauge.set({ status, worker }, count);
  }
}

function setWorkers(gauge: Gauge<'state'>, { workers }: FleetSnapshot): void {
  const counts: Record<WorkerState, number> = { online: 0, offline: 0, paused: 0 };
  for (const worker of workers) {
    counts[workerState(worker)]++;
  }
  for (const [state, count] of Object.entries(counts)) {
    gauge.set({ state }, count);
  }
}

function setResources(gauge: Gauge<'worker' | 'resource' | 'kind'>, { workers }: FleetSnapshot): void {
  for (const worker of workers) {
    for (const resource of new Set([...Object.keys(worker.total), ...Object.keys(worker.used)])) {
      gauge.set({ worker: worker.name, resource, kind: 'total' }, own(worker.total, resource));
      gauge.set({ worker: worker.name, resource, kind: 'used' }, own(worker.used, resource));
    }
  }
}

function setSessionUp(gauge: Gauge<'worker'>, { workers }: FleetSnapshot): void {
  for (const worker of workers) {
    gauge.set({ worker: worker.name }, worker.session?.up ? 1 : 0);
  }
}

/** The amount of `resource` (a name of the user's: `__proto__` is a name like any other), 0 when absent. */
function own(resources: Record<string, number>, resource: string): number {
  return Object.hasOwn(resources, resource) ? Number(resources[resource]) : 0;
}
