import { Injectable } from '@nestjs/common';
import type { Resources } from '@grove/resources';
import { DataSource } from 'typeorm';
import { typeOrmPool } from '../infra/database/dedicated-connection';

/** How many VMs have one status on one worker (`''`: none). */
export interface VmCount {
  status: string;
  worker: string;
  count: number;
}

/** A worker as the fleet metrics and `GET /v1/status` show it. */
export interface FleetWorker {
  name: string;
  paused: boolean;
  /** Seen within the offline timeout, or its session is up on a live replica: online as the scheduler judges it. */
  online: boolean;
  lastSeen: Date;
  /** The replica holding its session, if any; `up` is false when that replica's lease ran out. */
  session: { replica: string; up: boolean } | undefined;
  /** VMs placed on it. */
  vms: number;
  total: Resources;
  /** What its placed VMs take, summed by resource. */
  used: Resources;
}

/** Pending VMs not yet placed that share one reason (their `status_message`). */
export interface PendingReason {
  reason: string;
  count: number;
}

/** A pending VM, oldest first. */
export interface PendingVm {
  name: string;
  createdAt: Date;
  /** Its worker once placed (it waits for the worker to run it), else `''`. */
  worker: string;
  statusMessage: string;
}

/** Connections of the database pool: idle, in use, and requests waiting for one. */
export interface PoolCounts {
  idle: number;
  active: number;
  waiting: number;
}

interface WorkerRow {
  name: string;
  paused: boolean;
  online: boolean;
  last_seen: Date;
  replica: string | null;
  up: boolean | null;
  vms: number;
  total: Resources;
  used: Resources;
}

/**
 * The fleet's aggregates for metrics and status (issue 14), computed by Postgres at the time they are asked for: counts
 * grouped by status and worker, and each worker's usage summed from the columns the scheduler uses (migration
 * AddSchedulingColumns: `scheduled`, `resources`, `awaiting_placement`, `status_message`; the placed VMs counted by
 * worker and resource request from the index on both) — never the VM documents, so that a scrape costs milliseconds
 * with ten thousand VMs.
 */
@Injectable()
export class FleetRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** VMs counted by status and worker. */
  vmCounts(): Promise<VmCount[]> {
    return this.dataSource.query(`SELECT status, worker, count(*)::int AS count FROM vms GROUP BY status, worker`);
  }

  /** Every worker with its state, session, VM count and usage, by name. */
  async workers(offlineTimeoutMs: number): Promise<FleetWorker[]> {
    const rows: WorkerRow[] = await this.dataSource.query(
      `WITH shapes AS MATERIALIZED (
         SELECT worker, resources, count(*) AS n FROM vms WHERE scheduled GROUP BY worker, resources
       ),
       counts AS (SELECT worker, sum(n)::int AS vms FROM shapes GROUP BY worker),
       used AS (
         SELECT worker, jsonb_object_agg(key, total) AS used
         FROM (
           SELECT s.worker, e.key, sum(e.value::numeric * s.n) AS total
           FROM shapes s CROSS JOIN LATERAL jsonb_each(s.resources) AS e
           WHERE jsonb_typeof(e.value) = 'number'
           GROUP BY s.worker, e.key
         ) t
         GROUP BY worker
       )
       SELECT w.name, w.scheduling_paused AS paused, w.last_seen, s.replica, r.lease_expires_at > now() AS up,
              (now() - w.last_seen <= $1 * interval '1 millisecond' OR coalesce(r.lease_expires_at > now(), false))
                AS online,
              coalesce(c.vms, 0) AS vms, w.resources AS total, coalesce(u.used, '{}'::jsonb) AS used
       FROM workers w
       LEFT JOIN worker_sessions s ON s.worker = w.name
       LEFT JOIN controller_replicas r ON r.name = s.replica
       LEFT JOIN counts c ON c.worker = w.name
       LEFT JOIN used u ON u.worker = w.name
       ORDER BY w.name`,
      [offlineTimeoutMs],
    );
    return rows.map((row) => ({
      name: row.name,
      paused: row.paused,
      online: row.online,
      lastSeen: row.last_seen,
      session: row.replica === null ? undefined : { replica: row.replica, up: row.up === true },
      vms: row.vms,
      total: row.total,
      used: numbers(row.used),
    }));
  }

  /** The reasons why pending VMs are not placed, most common first, at most `limit`. */
  pendingReasons(limit: number): Promise<PendingReason[]> {
    return this.dataSource.query(
      `SELECT status_message AS reason, count(*)::int AS count FROM vms WHERE awaiting_placement
       GROUP BY status_message ORDER BY count DESC, reason LIMIT $1`,
      [limit],
    );
  }

  /** The `limit` oldest pending VMs. */
  async oldestPending(limit: number): Promise<PendingVm[]> {
    const rows: { name: string; created_at: Date; worker: string; status_message: string }[] =
      await this.dataSource.query(
        `SELECT name, created_at, worker, status_message FROM vms WHERE status = 'pending'
         ORDER BY created_at, name LIMIT $1`,
        [limit],
      );
    return rows.map((r) => ({
      name: r.name,
      createdAt: r.created_at,
      worker: r.worker,
      statusMessage: r.status_message,
    }));
  }

  /** The pool's connections now; undefined when the database is not open (the OpenAPI generator's app). */
  poolCounts(): PoolCounts | undefined {
    if (!this.dataSource.isInitialized) {
      return undefined;
    }
    const pool = typeOrmPool(this.dataSource);
    if (!pool) {
      return undefined;
    }
    return {
      idle: pool.idleCount,
      active: pool.totalCount - pool.idleCount,
      waiting: pool.waitingCount,
    };
  }
}

/** jsonb sums of `numeric` come back as numbers; a sum too large for a double would come back as text. */
function numbers(resources: Record<string, unknown>): Resources {
  return Object.fromEntries(Object.entries(resources).map(([key, value]) => [key, Number(value)]));
}
