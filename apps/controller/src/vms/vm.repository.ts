import { Injectable } from '@nestjs/common';
import { VM_FIELDS, type Vm, type VmEvent } from '@grove/resources';
import { DataSource, type EntityManager, type Repository } from 'typeorm';
import { VmEventEntity } from './vm-event.entity';
import { VmEntity } from './vm.entity';

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
function toVm(entity: VmEntity): Vm {
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
function toEntity(vm: Vm, version: number): VmEntity {
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

async function nextVersion(em: EntityManager): Promise<number> {
  const rows: { v: string }[] = await em.query(`SELECT nextval('vm_version_seq') AS v`);
  return Number(rows[0].v);
}

export interface EventPage {
  items: VmEvent[];
  /** Id of the last returned event when more events follow. */
  nextAfterId?: string;
}

@Injectable()
export class VmRepository {
  private readonly vms: Repository<VmEntity>;
  private readonly events: Repository<VmEventEntity>;

  constructor(private readonly dataSource: DataSource) {
    this.vms = dataSource.getRepository(VmEntity);
    this.events = dataSource.getRepository(VmEventEntity);
  }

  async find(name: string): Promise<Vm | undefined> {
    const entity = await this.vms.findOneBy({ name });
    return entity ? toVm(entity) : undefined;
  }

  /**
   * The JSON array of VMs (ordered by name), built by Postgres from the stored documents: with thousands of VMs,
   * parsing and re-serialising every document in the controller would dominate the response time.
   */
  async listJson(worker?: string): Promise<string> {
    const where = worker === undefined ? '' : 'WHERE worker = $1';
    const rows: { body: string }[] = await this.dataSource.query(
      `SELECT coalesce('[' || string_agg(document::text, ',' ORDER BY name) || ']', '[]') AS body FROM vms ${where}`,
      worker === undefined ? [] : [worker],
    );
    return rows[0].body;
  }

  /** The VMs assigned to one worker. */
  async onWorker(worker: string): Promise<Vm[]> {
    return (await this.vms.find({ where: { worker }, order: { name: 'ASC' } })).map(toVm);
  }

  async all(): Promise<Vm[]> {
    return (await this.vms.find({ order: { name: 'ASC' } })).map(toVm);
  }

  /** Inserts a new VM; undefined when the name is taken. */
  insert(vm: Vm): Promise<Vm | undefined> {
    return this.dataSource.transaction(async (em) => {
      const entity = toEntity(vm, await nextVersion(em));
      const result = await em
        .createQueryBuilder()
        .insert()
        .into(VmEntity)
        .values(entity)
        .orIgnore()
        .returning(['name'])
        .execute();
      return (result.raw as unknown[]).length > 0 ? toVm(entity) : undefined;
    });
  }

  /**
   * Reads the VM under a row lock, lets `change` compute the new document and stores it with a new version. `change`
   * returns undefined to leave the VM untouched. Resolves to `{before, after}`; `after` is undefined when nothing was
   * written, and the whole result is undefined when the VM does not exist.
   */
  update(name: string, change: (vm: Vm) => Vm | undefined): Promise<{ before: Vm; after?: Vm } | undefined> {
    return this.dataSource.transaction(async (em) => {
      const entity = await em.findOne(VmEntity, { where: { name }, lock: { mode: 'pessimistic_write' } });
      if (!entity) {
        return undefined;
      }
      const before = toVm(entity);
      const changed = change(before);
      if (changed === undefined) {
        return { before };
      }
      const next = toEntity(changed, await nextVersion(em));
      await em.update(VmEntity, { name }, next);
      return { before, after: toVm(next) };
    });
  }

  /** Deletes the VM; its events go with it (foreign key ON DELETE CASCADE). */
  async delete(name: string): Promise<Vm | undefined> {
    return this.dataSource.transaction(async (em) => {
      const entity = await em.findOne(VmEntity, { where: { name }, lock: { mode: 'pessimistic_write' } });
      if (!entity) {
        return undefined;
      }
      await em.delete(VmEntity, { name });
      return toVm(entity);
    });
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
