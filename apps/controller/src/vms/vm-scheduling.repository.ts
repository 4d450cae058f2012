import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { sumResources, type Resources, type Vm } from '@grove/resources';
import { DataSource } from 'typeorm';
import { DedicatedConnection } from '../infra/database/dedicated-connection';
import { documentAroundVersion, fromStored, toEntity, toVm, type StoredRow } from './vm.repository';

/*
 * The scheduler's reads and writes of VMs (issue 13). They use the columns that Postgres computes from each document
 * (migrations AddSchedulingColumns, ComputeSchedulingColumnsOnce): a pass reads the pending VMs counted by placement
 * shape, each worker's usage as Postgres keeps it (KeepWorkerUsage), and the few VMs whose state calls for a change —
 * never every document of the fleet — and writes its decisions in batches, each VM guarded by the version it was
 * decided on. They run on a connection of their own, so that a pass never queues behind API requests for the pool.
 */

/** What the VMs scheduled on one worker take of it. */
export interface WorkerLoad {
  worker: string;
  vms: number;
  resources: Resources;
  /** The `placement` of each of its VMs that claims worker ports (few: most VMs claim none). */
  portHolders: unknown[];
}

/** Pending VMs of one placement shape. */
export interface PendingShape {
  /** The shape as text, to ask for its VMs again. */
  key: string;
  /** The column `placement`. */
  placement: unknown;
  count: number;
}

export interface VmChange {
  /** The VM as read: the write happens only if the VM is still at this version. */
  before: Vm;
  after: Vm;
}

const VM_COLUMNS = 'v.document, v.version';

/** `count` VMs' worth of a resource request (amounts that are not numbers count as none, as in the sum). */
function times(resources: Resources, count: number): Resources {
  const total: Resources = {};
  for (const [key, amount] of Object.entries(resources)) {
    if (typeof amount === 'number') {
      Object.defineProperty(total, key, {
        value: amount * count,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return total;
}

/** The largest limit a pending read can take (Postgres int). */
const NO_LIMIT = 2 ** 31 - 1;

@Injectable()
export class VmSchedulingRepository implements OnApplicationShutdown {
  private readonly connection: DedicatedConnection;

  constructor(dataSource: DataSource) {
    this.connection = DedicatedConnection.forDataSource(dataSource);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.connection.close();
  }

  /**
   * The last version handed out. A VM at or below it was created (or last written) before this call: a pass places only
   * such VMs, so that every worker it reads afterwards is as new as the VMs (a worker paused before a VM was created is
   * seen paused).
   */
  async lastVersion(): Promise<number> {
    const rows: { v: string }[] = await this.connection.query(`SELECT last_value AS v FROM vm_version_seq`);
    return Number(rows[0].v);
  }

  /**
   * Each worker that holds scheduled VMs, with their count and summed resources. Postgres keeps the count by worker and
   * resource request as VMs are written (`worker_usage`, migration KeepWorkerUsage: a few hundred rows, whatever the
   * number of VMs), the controller multiplies; the VMs that claim worker ports come whole, found by their own index.
   */
  async loadByWorker(): Promise<WorkerLoad[]> {
    const rows: { worker: string; resources: Resources | null; vms: number; holders: unknown[] | null }[] = await this
      .connection.query(`
        SELECT worker, resources, vms, NULL::jsonb AS holders
        FROM worker_usage
        UNION ALL
        SELECT worker, NULL, 0, jsonb_agg(placement)
        FROM vms WHERE scheduled AND claims_ports
        GROUP BY worker`);
    const loads = new Map<string, WorkerLoad>();
    for (const row of rows) {
      let load = loads.get(row.worker);
      if (!load) {
        load = { worker: row.worker, vms: 0, resources: {}, portHolders: [] };
        loads.set(row.worker, load);
      }
      load.vms += row.vms;
      if (row.resources) {
        load.resources = sumResources([load.resources, times(row.resources, row.vms)]);
      }
      load.portHolders.push(...(row.holders ?? []));
    }
    return [...loads.values()];
  }

  /** The pending VMs up to `lastVersion`, counted by placement shape, oldest shape first. */
  pendingShapes(lastVersion: number): Promise<PendingShape[]> {
    return this.connection.query(
      `SELECT placement::text AS key, placement, count(*)::int AS count
       FROM vms WHERE awaiting_placement AND version <= $1
       GROUP BY placement ORDER BY min(created_at)`,
      [lastVersion],
    );
  }

  /**
   * The first `limit` pending VMs (by creation, then name) of each shape, up to `lastVersion`, with their shape; of
   * these, the `max` oldest.
   */
  async pendingOfShapes(
    lastVersion: number,
    shapes: readonly { key: string; limit: number }[],
    max: number,
  ): Promise<Array<{ vm: Vm; key: string }>> {
    if (shapes.length === 0) {
      return [];
    }
    const rows: (StoredRow & { key: string })[] = await this.connection.query(
      `WITH wanted AS (SELECT key::jsonb AS placement, lim FROM unnest($2::text[], $3::int[]) AS w(key, lim)),
       ranked AS (
         SELECT v.uid, v.created_at, v.name, w.lim,
                row_number() OVER (PARTITION BY v.placement ORDER BY v.created_at, v.name) AS rank
         FROM vms v JOIN wanted w ON v.placement = w.placement
         WHERE v.awaiting_placement AND v.version <= $1
       ),
       chosen AS (SELECT uid FROM ranked WHERE rank <= lim ORDER BY created_at, name LIMIT $4)
       SELECT ${VM_COLUMNS}, v.placement::text AS key
       FROM chosen c JOIN vms v ON v.uid = c.uid`,
      [lastVersion, shapes.map((s) => s.key), shapes.map((s) => Math.min(s.limit, NO_LIMIT)), max],
    );
    return rows.map((row) => ({ vm: fromStored(row), key: row.key }));
  }

  /** Up to `limit` pending VMs of a shape, up to `lastVersion`, whose status message is not `message`. */
  async pendingWithOtherMessage(lastVersion: number, key: string, message: string, limit: number): Promise<Vm[]> {
    const rows: StoredRow[] = await this.connection.query(
      `SELECT ${VM_COLUMNS} FROM vms v
       WHERE v.awaiting_placement AND v.version <= $1 AND v.placement = $2::jsonb AND v.status_message <> $3
       ORDER BY v.created_at, v.name LIMIT $4`,
      [lastVersion, key, message, limit],
    );
    return rows.map(fromStored);
  }

  /** The VMs scheduled on one worker. */
  async scheduledOn(worker: string): Promise<Vm[]> {
    const rows: StoredRow[] = await this.connection.query(
      `SELECT ${VM_COLUMNS} FROM vms v WHERE v.scheduled AND v.worker = $1`,
      [worker],
    );
    return rows.map(fromStored);
  }

  /** The VMs with endpoints scheduled on these workers. */
  async scheduledWithEndpointsOn(workers: readonly string[]): Promise<Vm[]> {
    const rows: StoredRow[] = await this.connection.query(
      `SELECT ${VM_COLUMNS} FROM vms v
       WHERE v.scheduled AND v.claims_ports AND v.worker = ANY($1::text[])
         AND v.placement->'endpointRanges' <> '[]'::jsonb`,
      [workers],
    );
    return rows.map(fromStored);
  }

  /** The VMs whose own state may call for a health transition (the column `health_check`). */
  async healthCandidates(): Promise<Vm[]> {
    const rows: StoredRow[] = await this.connection.query(`SELECT ${VM_COLUMNS} FROM vms v WHERE v.health_check`);
    return rows.map(fromStored);
  }

  /**
   * Writes each change unless its VM changed since it was read (another version, or deleted): one statement for the
   * batch, each row guarded by its version as `update` guards one VM, each written VM given the next version of the
   * sequence by the statement itself. Resolves to the written VMs.
   */
  async writeIfUnchanged(changes: readonly VmChange[]): Promise<Vm[]> {
    if (changes.length === 0) {
      return [];
    }
    const entities = changes.map((c) => toEntity(c.after, 0));
    const documents = entities.map((e) => documentAroundVersion(e.document));
    const written: { uid: string; version: string }[] = await this.connection.query(
      `WITH b AS (
         SELECT u.uid, u.expected, u.worker, u.status, u.head, u.tail, nextval('vm_version_seq') AS version
         FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
           WITH ORDINALITY AS u(uid, expected, worker, status, head, tail, i)
         ORDER BY u.i
       ),
       written AS (
         UPDATE vms AS v
         SET version = b.version, worker = b.worker, status = b.status, document = (b.head || b.version || b.tail)::json
         FROM b
         WHERE v.uid = b.uid AND v.version = b.expected
         RETURNING v.uid, v.version
       )
       SELECT uid, version FROM written`,
      [
        changes.map((c) => c.before.uid),
        changes.map((c) => c.before.version),
        entities.map((e) => e.worker),
        entities.map((e) => e.status),
        documents.map(([head]) => head),
        documents.map(([, tail]) => tail),
      ],
    );
    const versions = new Map(written.map((w) => [w.uid, Number(w.version)]));
    return entities.filter((e) => versions.has(e.uid)).map((e) => toVm({ ...e, version: versions.get(e.uid)! }));
  }
}
