import { request as httpRequest, Agent } from 'node:http';
import { GroveClient } from '@grove/client';
import { WORKER_CAPABILITY_TUNNEL_GUEST_AGENT } from '@grove/proto';
import { WORKER_CAPABILITY_VM_ENDPOINTS, WORKER_CAPABILITY_VM_EXPOSED_PORTS } from '@grove/resources';
import { summarise, type Summary } from '../stats';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable with Postgres' `clock_timestamp()`. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Latencies with the wall time they ended at, so that a report can pick the samples of one step. */
export class LatencyLog {
  private readonly samples: Array<{ at: number; ms: number }> = [];
  errors = 0;
  firstError: string | undefined;

  record(ms: number, at = wallNow()): void {
    this.samples.push({ at, ms });
  }

  fail(err: unknown): void {
    this.errors++;
    this.firstError ??= err instanceof Error ? err.message : String(err);
  }

  /** The samples that ended within [from, to]. */
  between(from: number, to: number): Summary {
    return summarise(this.samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.ms));
  }

  all(): Summary {
    return summarise(this.samples.map((s) => s.ms));
  }
}

export interface FleetOptions {
  url: string;
  credentials: { name: string; token: string };
  /** Worker names; each gets its own client (its own keep-alive connection), as separate machines would. */
  names: string[];
  /** `org.cirruslabs.tart-vms` of every worker: how many VMs each may run. */
  slots: number;
  heartbeatMs: number;
  /** The worker's VM sync poll; 0 for none. */
  syncMs: number;
}

/**
 * Workers that exist only as REST clients, doing what `grove worker run` does towards the API (apps/worker/src/session/
 * worker-session.ts, grove-worker.ts): register with `POST /v1/workers`, heartbeat with `PUT /v1/workers/{name}` carrying
 * only `name` and `last_seen` every `heartbeatMs` (the worker's default is 15 s; requests may overlap, as the worker's
 * setInterval lets them), and read their VMs with `GET /v1/vms?filter=worker=NAME` every `syncMs` (the worker polls every
 * 5 s, one read at a time). Their gRPC sessions are left out: they cost the controller no database work (pings are in
 * memory) and REST-only workers are judged by `last_seen`, as an Orchard worker is. Starts are spread evenly over one
 * interval so that the load is steady.
 */
export class WorkerFleet {
  readonly heartbeats = new LatencyLog();
  readonly syncs = new LatencyLog();
  private readonly clients: GroveClient[];
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(private readonly options: FleetOptions) {
    this.clients = options.names.map(
      () =>
        new GroveClient({
          url: options.url,
          serviceAccountName: options.credentials.name,
          serviceAccountToken: options.credentials.token,
        }),
    );
  }

  get size(): number {
    return this.options.names.length;
  }

  /** Registers every worker (`concurrency` at a time), as a worker does at the start of each session. */
  async register(concurrency = 16): Promise<void> {
    let next = 0;
    const one = async () => {
      while (next < this.options.names.length) {
        const i = next++;
        await this.clients[i].workers.create({
          name: this.options.names[i],
          machine_id: `bench-machine-${this.options.names[i]}`,
          labels: {},
          resources: { 'org.cirruslabs.tart-vms': this.options.slots },
          defaultCPU: 4,
          defaultMemory: 8192,
          arch: 'arm64',
          runtime: 'tart',
          capabilities: [
            WORKER_CAPABILITY_VM_EXPOSED_PORTS,
            WORKER_CAPABILITY_VM_ENDPOINTS,
            WORKER_CAPABILITY_TUNNEL_GUEST_AGENT,
          ],
          last_seen: new Date().toISOString(),
        });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, one));
  }

  /** One heartbeat of worker `i`, timed. */
  async heartbeat(i: number): Promise<void> {
    const name = this.options.names[i];
    const started = performance.now();
    try {
      await this.clients[i].workers.update(name, { name, last_seen: new Date().toISOString() });
      this.heartbeats.record(performance.now() - started);
    } catch (err) {
      this.heartbeats.fail(err);
    }
  }

  /** One VM sync read of worker `i`, timed. */
  async sync(i: number): Promise<void> {
    const started = performance.now();
    try {
      await this.clients[i].vms.list({ worker: this.options.names[i] });
      this.syncs.record(performance.now() - started);
    } catch (err) {
      this.syncs.fail(err);
    }
  }

  /** Starts the periodic heartbeats and sync reads of every worker. */
  start(): void {
    const { names, heartbeatMs, syncMs } = this.options;
    names.forEach((_, i) => {
      this.every(heartbeatMs, (i / names.length) * heartbeatMs, () => void this.heartbeat(i));
      if (syncMs > 0) {
        let busy = false;
        this.every(syncMs, (i / names.length) * syncMs, () => {
          if (!busy) {
            busy = true;
            void this.sync(i).finally(() => (busy = false));
          }
        });
      }
    });
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) {
      clearTimeout(timer);
      clearInterval(timer);
    }
    for (const client of this.clients) {
      client.close();
    }
  }

  private every(intervalMs: number, offsetMs: number, tick: () => void): void {
    this.timers.push(
      setTimeout(() => {
        if (!this.stopped) {
          tick();
          this.timers.push(setInterval(tick, intervalMs));
        }
      }, offsetMs),
    );
  }
}

/**
 * Event-loop probe: `GET /v1` (public, answered from memory) every `intervalMs` on its own connection, one at a time.
 * While the controller's loop is blocked (a scheduling pass computing), the probe waits; its latency is the block
 * plus a fraction of a millisecond.
 */
export function startProbe(url: string, intervalMs: number): { log: LatencyLog; stop(): void } {
  const log = new LatencyLog();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const once = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const req = httpRequest(`${url}/v1`, { agent }, (res) => {
        res.resume();
        res.once('end', () => {
          log.record(performance.now() - started);
          resolve();
        });
      });
      req.once('error', (err) => {
        log.fail(err);
        resolve();
      });
      req.end();
    });
  const loop = async () => {
    while (!stopped) {
      const started = performance.now();
      await once();
      const wait = intervalMs - (performance.now() - started);
      await new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, wait))));
    }
  };
  void loop();
  return {
    log,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      agent.destroy();
    },
  };
}
