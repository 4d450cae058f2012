import { Injectable } from '@nestjs/common';
import { VM_FIELDS, type Vm, type VmEvent } from '@grove/resources';
import type { QueryResultRow } from 'pg';
import { DataSource, type Repository } from 'typeorm';
import { WorkerTrafficPool } from '../infra/database/worker-traffic-pool';
import { VmEventEntity } from './vm-event.entity';
import type { VmEntity } from './vm.entity';

/** Fields added after VMs were first stored, with the value an older document means (issue 12). */
const LATER_FIELD_DEFAULTS: Pick<Vm, 'audio' | 'clipboard' | 'netSoftnetExpose'> = {
  audio: false,
  clipboard: false,
  netSoftnetExpose: [],
};

/**
 * The VM as stored, field for field in the stored order, so that it serialises exactly as `GET /v1/vms` serves the
 * same document. A later field a document lacks (one written by a replica not yet upgraded; the migration
 * FillNewerVmFields filled the older ones) is added at the end.
 */
export function toVm(entity: VmEntity): Vm {
  const vm: Vm = { ...entity.document, version: entity.version };
  for (const [key, value] of Object.entries(LATER_FIELD_DEFAULTS)) {
    if (!(key in vm)) {
      Object.assign(vm, { [key]: structuredClone(value) });
    }
  }
  return vm;
}

/**
 * The stored document: every field in the API's order, with the row's version. A field without a value (undefined,
 * or null from a document stored before issue 12) is left out, as Orchard omits it; `GET /v1/vms` serves the stored
 * documents as they are.
 */
export function toEntity(vm: Vm, version: number): VmEntity {
  const source: Record<string, unknown> = { ...vm, version };
  const document: Record<string, unknown> = {};
  for (const key of VM_FIELDS) {
    if (source[key] !== undefined && source[key] !== null) {
      document[key] = source[key];
    }
  }
  return {
    name: vm.name,
    uid: vm.uid,
    version,
    worker: vm.worker,
    status: vm.status,
    createdAt: new Date(vm.createdAt),
    document: document as unknown as Vm,
  };
}

/**
 * The text of a stored document (`toEntity(…).document`) split around its version: `head + version + tail` is the
 * document with that version. A new VM's version comes from the sequence in the statement that inserts it, which joins
 * the three.
 */
export function documentAroundVersion(document: Vm): [head: string, tail: string] {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  let past = false;
  for (const [key, value] of Object.entries(document)) {
    if (key === 'version') {
      past = true;
    } else {
      (past ? after : before)[key] = value;
    }
  }
  const head = Object.keys(before).length > 0 ? `${JSON.stringify(before).slice(0, -1)},` : '{';
  const tail = Object.keys(after).length > 0 ? `,${JSON.stringify(after).slice(1)}` : '}';
  return [`${head}"version":`, tail];
}

/** A VM row as pg returns it: the document parsed, the version (bigint) as text. */
export interface StoredRow {
  document: Vm;
  version: string;
}

export function fromStored(row: StoredRow): Vm {
  return toVm({ document: row.document, version: Number(row.version) } as VmEntity);
}

/** A stretch of `GET /v1/vms`, by VM name. */
export interface VmListRange {
  /** Only the VMs of this worker. */
  worker?: string;
  /** Only VMs named after this one (exclusive). */
  after?: string;
  /** Only VMs named up to this one (inclusive). */
  through?: string;
}

export interface VmListChunk {
  /** The documents, joined with commas (UTF-8). */
  json: Buffer;
  /** Name of the last VM of the chunk. */
  last: string;
  count: number;
  /** Whether more may follow; when unset, more may follow when the chunk has all the rows asked for. */
  more?: boolean;
}

/** A VM of a list read row by row (vm-list-cache.ts). */
export interface VmListRow {
  name: string;
  /** The stored document's key: `version.xmin`. */
  key: string;
  /** The stored text, or null when the reader said it holds the document of this key. */
  document: string | null;
}

/**
 * The WHERE clause of a range and its parameters. Built per shape rather than with `$n IS NULL OR …`, which would keep
 * Postgres from using the index for a cached generic plan.
 */
function listRangeWhere(range: VmListRange): [string, unknown[]] {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const add = (condition: string, value: unknown) => {
    params.push(value);
    conditions.push(condition.replace('?', `$${params.length}`));
  };
  if (range.worker !== undefined) {
    add('worker = ?', range.worker);
  }
  if (range.after !== undefined) {
    add('name > ?', range.after);
  }
  if (range.through !== undefined) {
    add('name <= ?', range.through);
  }
  return [conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', params];
}

export interface EventPage {
  items: VmEvent[];
  /** Id of the last returned event when more events follow. */
  nextAfterId?: string;
}

@Injectable()
export class VmRepository {
  private readonly events: Repository<VmEventEntity>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly workerTraffic: WorkerTrafficPool,
  ) {
    this.events = dataSource.getRepository(VmEventEntity);
  }

  async find(name: string): Promise<Vm | undefined> {
    const rows: StoredRow[] = await this.dataSource.query(`SELECT document, version FROM vms WHERE name = $1`, [name]);
    return rows.length > 0 ? fromStored(rows[0]) : undefined;
  }

  /**
   * Up to `rows` VMs of `range` in name order, as their stored documents joined with commas, with the name of the last
   * one and how many there are; undefined when the range holds none. Postgres joins the documents' text (the column is
   * `json`, kept as written): with thousands of VMs, parsing and re-serialising every document in the controller would
   * dominate the response time. Keyset reads by name use the primary key (and `vms_worker_idx` with a worker), so each
   * chunk costs the same however far into the list it is. One worker's VMs (its sync read, every 5 s) are read on the
   * workers' pool, as its heartbeats are.
   */
  async listChunk(range: VmListRange, rows: number): Promise<VmListChunk | undefined> {
    const [where, params] = listRangeWhere(range);
    const result = await this.read<{ json: string | null; last: string | null; count: string }>(
      range,
      `SELECT string_agg(document::text, ',' ORDER BY name) AS json, max(name) AS last, count(*) AS count
       FROM (SELECT name, document FROM vms ${where} ORDER BY name LIMIT $${params.length + 1}) chunk`,
      [...params, rows],
    );
    const { json, last, count } = result[0];
    return json === null || last === null ? undefined : { json: Buffer.from(json, 'utf8'), last, count: Number(count) };
  }

  /**
   * Up to `rows` VMs of `range` in name order, one row each with the key of its stored document (its version and the
   * row's `xmin`: any write of the row changes it), and the document's text unless its key is one of `known` (the
   * reader holds that text already: vm-list-cache.ts). The keys go as one comma-separated text (they hold digits and
   * dots only), which costs the controller less than an array parameter.
   */
  async listRows(range: VmListRange, rows: number, known: string[]): Promise<VmListRow[]> {
    const [where, params] = listRangeWhere(range);
    return this.read<VmListRow>(
      range,
      `SELECT name, version::text || '.' || xmin::text AS key,
         CASE WHEN version::text || '.' || xmin::text = ANY(string_to_array($${params.length + 1}, ',')) THEN NULL
              ELSE document::text END AS document
       FROM vms ${where} ORDER BY name LIMIT $${params.length + 2}`,
      [...params, known.join(','), rows],
    );
  }

  /**
   * The end of a page of `limit` VMs of `range`: the name of its last VM and whether more follow; undefined when the
   * range holds no more than `limit` VMs (the page is the rest of the list).
   */
  async pageEnd(range: VmListRange, limit: number): Promise<{ last: string; more: boolean } | undefined> {
    const [where, params] = listRangeWhere(range);
    const rows = await this.read<{ name: string }>(
      range,
      `SELECT name FROM vms ${where} ORDER BY name OFFSET $${params.length + 1} LIMIT 2`,
      [...params, limit - 1],
    );
    return rows.length === 0 ? undefined : { last: rows[0].name, more: rows.length > 1 };
  }

  /** A read of `range`: on the workers' pool for one worker's VMs, else on the API's. */
  private read<T extends QueryResultRow>(range: VmListRange, text: string, params: unknown[]): Promise<T[]> {
    return range.worker === undefined ? this.dataSource.query(text, params) : this.workerTraffic.query<T>(text, params);
  }

  /** The VMs assigned to one worker. */
  async onWorker(worker: string): Promise<Vm[]> {
    const rows: StoredRow[] = await this.dataSource.query(
      `SELECT document, version FROM vms WHERE worker = $1 ORDER BY name`,
      [worker],
    );
    return rows.map(fromStored);
  }

  /**
   * Inserts a new VM in one statement, its version drawn from the sequence by the same statement (issue 13: a create
   * was a transaction of four statements); undefined when the name (or uid) is taken.
   */
  async insert(vm: Vm): Promise<Vm | undefined> {
    const entity = toEntity(vm, 0);
    const [head, tail] = documentAroundVersion(entity.document);
    const rows: { version: string }[] = await this.dataSource.query(
      `WITH next AS (SELECT nextval('vm_version_seq') AS version)
       INSERT INTO vms (name, uid, version, worker, status, created_at, document)
       SELECT $1, $2, next.version, $3, $4, $5, ($6 || next.version || $7)::json FROM next
       ON CONFLICT DO NOTHING
       RETURNING version`,
      [vm.name, vm.uid, vm.worker, vm.status, new Date(vm.createdAt), head, tail],
    );
    return rows.length > 0 ? toVm({ ...entity, version: Number(rows[0].version) }) : undefined;
  }

  /**
   * Lets `change` compute the new document from the VM as stored and writes it with a new version, in one statement
   * that writes only if the VM is still at the version `change` saw; if someone wrote it in between, it reads the VM
   * again and asks `change` once more (each retry follows a write that succeeded). Two statements without a transaction
   * instead of a locked read in one (issue 13: five statements for every state report of a worker). `change` returns
   * undefined to leave the VM untouched. Resolves to `{before, after}`; `after` is undefined when nothing was written,
   * and the whole result is undefined when the VM does not exist.
   */
  async update(name: string, change: (vm: Vm) => Vm | undefined): Promise<{ before: Vm; after?: Vm } | undefined> {
    for (;;) {
      const before = await this.find(name);
      if (!before) {
        return undefined;
      }
      const changed = change(before);
      if (changed === undefined) {
        return { before };
      }
      const entity = toEntity(changed, 0);
      const [head, tail] = documentAroundVersion(entity.document);
      const [rows]: [{ version: string }[], number] = await this.dataSource.query(
        `WITH next AS (SELECT nextval('vm_version_seq') AS version)
         UPDATE vms SET version = next.version, uid = $3, worker = $4, status = $5, created_at = $6,
           document = ($7 || next.version || $8)::json
         FROM next
         WHERE vms.name = $1 AND vms.version = $2
         RETURNING vms.version`,
        [name, before.version, entity.uid, entity.worker, entity.status, entity.createdAt, head, tail],
      );
      if (rows.length > 0) {
        return { before, after: toVm({ ...entity, version: Number(rows[0].version) }) };
      }
    }
  }

  /** Deletes the VM in one statement and resolves to it as it was; its events go with it (ON DELETE CASCADE). */
  async delete(name: string): Promise<Vm | undefined> {
    const [rows]: [StoredRow[], number] = await this.dataSource.query(
      `DELETE FROM vms WHERE name = $1 RETURNING document, version`,
      [name],
    );
    return rows.length > 0 ? fromStored(rows[0]) : undefined;
  }

  async appendEvents(vmUid: string, events: VmEvent[]): Promise<void> {
    if (events.length === 0) {
      return;
    }
    await this.events.insert(events.map((e) => ({ vmUid, kind: e.kind, timestamp: e.timestamp, payload: e.payload })));
  }

  /** A page of events in insertion order (or its reverse), strictly after the event `afterId` when given. */
  async listEvents(
    vmUid: string,
    options: { limit?: number; order: 'asc' | 'desc'; afterId?: string },
  ): Promise<EventPage> {
    const query = this.events
      .createQueryBuilder('e')
      .where('e.vm_uid = :vmUid', { vmUid })
      .orderBy('e.id', options.order === 'asc' ? 'ASC' : 'DESC');
    if (options.afterId !== undefined) {
      query.andWhere(options.order === 'asc' ? 'e.id > :after' : 'e.id < :after', { after: options.afterId });
    }
    if (options.limit !== undefined) {
      query.limit(options.limit + 1);
    }
    const rows = await query.getMany();
    const more = options.limit !== undefined && rows.length > options.limit;
    const page = more ? rows.slice(0, options.limit) : rows;
    return {
      items: page.map((r) => ({ kind: r.kind as VmEvent['kind'], timestamp: r.timestamp, payload: r.payload })),
      nextAfterId: more ? page[page.length - 1].id : undefined,
    };
  }
}
