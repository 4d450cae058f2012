import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import {
  applyVmSpecUpdate,
  isVmScheduled,
  newVm,
  parseFilters,
  sameEndpoints,
  sameHostProcesses,
  setCondition,
  workerPortClaims,
  workerPortClaimsFit,
  ZERO_TIME,
  type ClusterSettings,
  type ConditionType,
  type Filter,
  type HostProcess,
  type ServiceAccount,
  type Vm,
  type VmCreateInput,
  type VmEvent,
  type VmObservedEndpoint,
  type VmSpec,
} from '@grove/resources';
import { hasRoles, missingRolesMessage } from '../common/auth/auth.guard';
import type { AuthRule } from '../common/auth/roles.decorator';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { ClusterSettingsService } from '../cluster-settings/cluster-settings.service';
import { SchedulingTrigger } from '../common/scheduling-trigger';
import { SchedulingMetrics } from '../metrics/scheduling-metrics';
import { VmStartTraces } from '../telemetry/vm-start-traces';
import { WorkerSessionRegistry } from '../worker-sessions/worker-session.registry';
import { VmChangeBus } from './vm-change-bus';
import type { HostProcessDto } from './vm-host-process.dto';
import type { VmCreateDto, VmDto } from './vm.dto';
import { VmRepository, type VmListRange } from './vm.repository';
import {
  chunksAfter,
  decodeVmListCursor,
  encodeVmListCursor,
  FIRST_CHUNK_ROWS,
  vmListChunks,
  type VmListPage,
} from './vm-list';
import { VmListCache, VmListReader } from './vm-list-cache';

/** Drops "" from enum fields (Go's unset value) so that defaults apply. */
function blankToUndefined<T extends string>(value: string | undefined): T | undefined {
  return value === undefined || value === '' ? undefined : (value as T);
}

function invert(value: boolean | undefined): boolean | undefined {
  return value === undefined ? undefined : !value;
}

function toSpecInput(dto: VmDto): Partial<VmSpec> {
  return {
    os: blankToUndefined(dto.os),
    arch: blankToUndefined(dto.arch),
    runtime: blankToUndefined(dto.runtime),
    'net-softnet': dto['net-softnet'],
    netSoftnet: dto.netSoftnet,
    netSoftnetAllow: dto.netSoftnetAllow,
    netSoftnetBlock: dto.netSoftnetBlock,
    suspendable: dto.suspendable,
    usbAccessories: dto.usbAccessories,
    netSoftnetExpose: dto.netSoftnetExpose,
    endpoints: dto.endpoints ?? undefined,
    hostProcesses: dto.hostProcesses ? dto.hostProcesses.map(toHostProcess) : undefined,
    powerState: blankToUndefined(dto.powerState),
  };
}

function toHostProcess(dto: HostProcessDto): HostProcess {
  return {
    name: dto.name,
    program: dto.program,
    ...(dto.args ? { args: dto.args } : {}),
    ...(dto.env ? { env: dto.env } : {}),
  };
}

/** The roles that set or change a VM's `hostProcesses` (orchard-2026.md §1.2.3). */
export const HOST_PROCESS_WRITE_RULE: AuthRule & { kind: 'all' } = {
  kind: 'all',
  roles: ['compute:write', 'host-process:write'],
};

export function toVmCreateInput(dto: VmCreateDto): VmCreateInput {
  // A new VM always starts running; powerState is only changed by spec updates.
  const { powerState: _powerState, ...spec } = toSpecInput(dto);
  return {
    name: dto.name,
    image: dto.image,
    imagePullPolicy: blankToUndefined(dto.imagePullPolicy),
    cpu: dto.cpu,
    memory: dto.memory,
    diskSize: dto.diskSize,
    'net-bridged': dto['net-bridged'],
    headless: dto.headless,
    nested: dto.nested,
    ...spec,
    // An intermediate Orchard sent the opt-outs `noAudio`/`noClipboard` (orchard-2026.md §1.2.7).
    audio: dto.audio ?? invert(dto.noAudio),
    clipboard: dto.clipboard ?? invert(dto.noClipboard),
    username: dto.username,
    password: dto.password,
    startup_script: dto.startup_script
      ? { script_content: dto.startup_script.script_content, env: dto.startup_script.env ?? {} }
      : undefined,
    restart_policy: blankToUndefined(dto.restart_policy),
    randomSerial: dto.randomSerial,
    resources: dto.resources ?? undefined,
    labels: dto.labels ?? undefined,
    hostDirs: dto.hostDirs ?? undefined,
  };
}

/** The cluster settings that decide about a VM without host directories: none of them does. */
const NO_HOST_DIRS: ClusterSettings = { hostDirPolicies: [], schedulerProfile: 'optimize-utilization' };

/** Cursor of the events list: base64url of the last returned event id (opaque to clients). */
export function encodeEventCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeEventCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor.replace(/=+$/, ''), 'base64url').toString('utf8');
  return /^[1-9]\d{0,18}$/.test(text) ? text : undefined;
}

@Injectable()
export class VmService {
  /** The documents the last whole list sent, which the next one need not read again (vm-list-cache.ts). */
  private readonly listCache = new VmListCache();

  constructor(
    private readonly repository: VmRepository,
    private readonly clusterSettings: ClusterSettingsService,
    private readonly changes: VmChangeBus,
    private readonly scheduling: SchedulingTrigger,
    private readonly sessions: WorkerSessionRegistry,
    private readonly metrics: SchedulingMetrics,
    private readonly startTraces: VmStartTraces,
  ) {}

  async create(dto: VmCreateDto): Promise<Vm> {
    // The cluster settings decide only which host directories a VM may mount: read them only for a VM that asks.
    const settings = (dto.hostDirs ?? []).length > 0 ? await this.clusterSettings.forNewVms() : NO_HOST_DIRS;
    const vm = newVm(toVmCreateInput(dto), settings, randomUUID(), new Date());
    const stored = await this.repository.insert(vm);
    if (!stored) {
      throw DomainError.conflict(`VM with this name already exists`);
    }
    this.changes.publish({ type: 'ADDED', vm: stored });
    this.scheduling.request();
    return stored;
  }

  /**
   * `GET /v1/vms`: the stored documents in name order, read chunk by chunk as they are sent (vm-list.ts); the first
   * chunk is read here, so that a database failure is still answered with an error status. Only `worker=` filters
   * match anything (Orchard's rule). With `limit`, one page and the cursor of the next (Grove's extension, as for
   * events); without it, the whole list.
   */
  async list(query: { filter?: string; limit?: string; cursor?: string }): Promise<VmListPage> {
    let filters: Filter[];
    try {
      filters = parseFilters(query.filter ?? '');
    } catch (err) {
      throw DomainError.invalid([{ field: 'filter', message: (err as Error).message }]);
    }
    const range: VmListRange = {};
    if (query.cursor !== undefined && query.cursor !== '') {
      range.after = decodeVmListCursor(query.cursor);
      if (range.after === undefined) {
        throw DomainError.invalid([{ field: 'cursor', message: `invalid cursor "${query.cursor}"` }]);
      }
    }
    const workers = new Set(filters.map((f) => (f.path === 'worker' ? f.value : undefined)));
    if (workers.has(undefined) || workers.size > 1) {
      return {
        chunks: vmListChunks(chunksAfter(() => Promise.resolve(undefined), range, undefined, FIRST_CHUNK_ROWS)),
        fitsOneRead: true,
      };
    }
    range.worker = filters[0]?.value;
    let nextCursor: string | undefined;
    if (query.limit !== undefined) {
      const end = await this.repository.pageEnd(range, Number(query.limit));
      range.through = end?.last;
      nextCursor = end?.more ? encodeVmListCursor(end.last) : undefined;
    }
    // One worker's VMs (its sync read) are few and read in one statement; lists of the fleet go through the cache.
    let read = (r: VmListRange, rows: number) => this.repository.listChunk(r, rows);
    if (range.worker === undefined) {
      const reader = new VmListReader(
        this.listCache,
        (r, rows, known) => this.repository.listRows(r, rows, known),
        range,
      );
      read = (r, rows) => reader.read(r, rows);
    }
    const first = await read(range, FIRST_CHUNK_ROWS);
    return {
      chunks: vmListChunks(chunksAfter(read, range, first, FIRST_CHUNK_ROWS)),
      fitsOneRead: !(first?.more ?? (first?.count ?? 0) >= FIRST_CHUNK_ROWS) && (first?.count ?? 0) < FIRST_CHUNK_ROWS,
      nextCursor,
    };
  }

  async get(name: string): Promise<Vm> {
    const vm = await this.repository.find(name);
    if (!vm) {
      throw DomainError.notFound(`VM "${name}"`);
    }
    return vm;
  }

  /**
   * Spec update (PUT /v1/vms/{name}): only the VMSpec fields count; a change bumps `generation`. An update that changes
   * `hostProcesses` needs `host-process:write` of `account` too (Orchard's client sends them unchanged with every
   * update, which needs nothing more).
   */
  async updateSpec(name: string, dto: VmDto, account: Pick<ServiceAccount, 'roles'>): Promise<Vm> {
    const requested = toSpecInput(dto);
    // The worker ports the other VMs on its worker claim, read only when the update changes the endpoints of a placed
    // VM (Orchard's client sends them with every update). A VM placed between this read and the update goes unchecked:
    // should its ports clash after all, its worker reports those endpoints as `error`.
    const before = requested.endpoints ? await this.repository.find(name) : undefined;
    const others =
      before?.worker && !sameEndpoints(before.endpoints, requested.endpoints)
        ? await this.repository.onWorker(before.worker)
        : [];
    const result = await this.repository.update(name, (vm) => {
      const spec = applyVmSpecUpdate(vm, requested);
      if (spec === undefined) {
        return undefined;
      }
      const next: Vm = { ...vm, ...spec, generation: vm.generation + 1 };
      if (!sameHostProcesses(vm.hostProcesses, next.hostProcesses) && !hasRoles(account, HOST_PROCESS_WRITE_RULE)) {
        throw new DomainError(DomainErrorCode.Forbidden, missingRolesMessage(HOST_PROCESS_WRITE_RULE));
      }
      if (!sameEndpoints(vm.endpoints, next.endpoints)) {
        assertWorkerPortsFree(next, others);
      }
      return next;
    });
    if (result?.after) {
      this.nudgeWorker(result.after);
    }
    return this.published(name, result);
  }

  /** State report from a worker (PUT /v1/vms/{name}/state). */
  async updateState(name: string, dto: VmDto): Promise<Vm> {
    const result = await this.repository.update(name, (vm) => {
      // A worker reports by name, but the name may by now belong to a newer incarnation (deleted and created again,
      // or restarted with a new restart count): a report that says which one it is about must match it.
      if (
        (dto.uid && dto.uid !== vm.uid) ||
        (dto.restart_count !== undefined && dto.restart_count !== vm.restart_count)
      ) {
        throw DomainError.conflict(`the state report is for another incarnation of VM "${name}"`);
      }
      const status = blankToUndefined<Vm['status']>(dto.status) ?? vm.status;
      if (vm.status === 'failed' && status !== 'failed') {
        throw DomainError.conflict('cannot update status for a VM in a terminal state');
      }
      const next: Vm = {
        ...vm,
        status,
        status_message: dto.status_message ?? vm.status_message,
        image_fqn: dto.image_fqn ?? vm.image_fqn,
        observedGeneration: dto.observedGeneration ?? vm.observedGeneration,
        conditions: mergeReportedConditions(vm, dto.conditions ?? undefined),
        observedEndpoints: reportedEndpoints(vm, dto.observedEndpoints ?? undefined),
      };
      if (status === 'running' && vm.status !== 'running' && vm.started_at === ZERO_TIME) {
        next.started_at = new Date().toISOString();
      }
      return next;
    });
    if (result?.after) {
      this.metrics.stateReported(result.before, result.after);
      this.startTraces.stateReported(result.before, result.after);
    }
    return this.published(name, result);
  }

  async delete(name: string): Promise<void> {
    const vm = await this.repository.delete(name);
    if (!vm) {
      throw DomainError.notFound(`VM "${name}"`);
    }
    this.changes.publish({ type: 'DELETED', vm });
    this.nudgeWorker(vm);
  }

  /**
   * Asks the VM's worker to reconcile now rather than at its next poll (5 s): it stops and deletes a deleted VM's
   * clone, or applies a new power state, at once. The worker's periodic sync catches up if the nudge is lost.
   */
  private nudgeWorker(vm: Vm): void {
    if (vm.worker) {
      this.sessions.notifyAnywhere(vm.worker, { sync_vms: {} });
    }
  }

  async appendEvents(name: string, events: VmEvent[]): Promise<void> {
    const vm = await this.get(name);
    await this.repository.appendEvents(vm.uid, events);
  }

  /** Appends events to one incarnation of a VM; nothing happens when the VM was deleted or re-created meanwhile. */
  async appendEventsIfCurrent(name: string, uid: string, events: VmEvent[]): Promise<void> {
    const vm = await this.repository.find(name);
    if (vm?.uid === uid) {
      await this.repository.appendEvents(uid, events);
    }
  }

  async listEvents(
    name: string,
    query: { limit?: string; order?: string; cursor?: string },
  ): Promise<{ items: VmEvent[]; nextCursor?: string }> {
    let afterId: string | undefined;
    if (query.cursor !== undefined && query.cursor !== '') {
      afterId = decodeEventCursor(query.cursor);
      if (afterId === undefined) {
        throw DomainError.invalid([{ field: 'cursor', message: `invalid cursor "${query.cursor}"` }]);
      }
    }
    const vm = await this.get(name);
    const page = await this.repository.listEvents(vm.uid, {
      limit: query.limit === undefined ? undefined : Number(query.limit),
      order: query.order?.toLowerCase() === 'desc' ? 'desc' : 'asc',
      afterId,
    });
    return { items: page.items, nextCursor: page.nextAfterId ? encodeEventCursor(page.nextAfterId) : undefined };
  }

  private published(name: string, result: { before: Vm; after?: Vm } | undefined): Vm {
    if (!result) {
      throw DomainError.notFound(`VM "${name}"`);
    }
    if (result.after) {
      this.changes.publish({ type: 'MODIFIED', vm: result.after });
      return result.after;
    }
    return result.before;
  }
}

/**
 * A scheduled VM whose endpoints change must still get its worker ports beside the other VMs on that worker
 * (orchard-2026.md §1.2.2: Orchard answers 412; Grove answers 409, as for other requests the VM's state forbids).
 */
function assertWorkerPortsFree(vm: Vm, all: readonly Vm[]): void {
  if (!isVmScheduled(vm) || !vm.worker) {
    return;
  }
  const claims = all
    .filter((other) => other.uid !== vm.uid && other.worker === vm.worker && isVmScheduled(other))
    .flatMap(workerPortClaims);
  if (!workerPortClaimsFit([...claims, ...workerPortClaims(vm)])) {
    throw DomainError.conflict(
      `the worker ports of the endpoints clash with netSoftnetExpose or endpoints of other VMs on worker "${vm.worker}"`,
    );
  }
}

/** The worker's listeners replace what was stored when it reports them; none (`[]`) omits the field. */
function reportedEndpoints(vm: Vm, reported: VmObservedEndpoint[] | undefined): Vm['observedEndpoints'] {
  if (reported === undefined) {
    return vm.observedEndpoints;
  }
  return reported.length === 0
    ? undefined
    : reported.map((e) => ({
        name: e.name,
        protocol: e.protocol,
        ...(e.workerPort !== undefined ? { workerPort: e.workerPort } : {}),
        state: e.state,
        ...(e.message ? { message: e.message } : {}),
      }));
}

/**
 * The conditions a worker owns: `running`, and `host-processes-ready` (orchard-2026.md §1.2.3); `scheduled` and the
 * others stay the controller's (orchard.md §2.3). A report that leaves one out keeps it as it was.
 */
const WORKER_CONDITIONS: readonly ConditionType[] = ['running', 'host-processes-ready'];

function mergeReportedConditions(vm: Vm, reported: { type: string; state: string }[] | undefined): Vm['conditions'] {
  return WORKER_CONDITIONS.reduce((conditions, type) => {
    const condition = reported?.find((c) => c.type === type);
    return condition ? setCondition(conditions, type, condition.state === 'true') : conditions;
  }, vm.conditions);
}
