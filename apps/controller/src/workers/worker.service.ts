import { Injectable } from '@nestjs/common';
import type { Worker } from '@grove/resources';
import { ReplicaRegistry, type WorkerSessionLocation } from '../cluster/replica-registry';
import { DomainError } from '../common/domain-error';
import { SchedulingTrigger } from '../common/scheduling-trigger';
import { parseOptionalTime } from '../common/time';
import type { WorkerDto } from './worker.dto';
import { toWorkerResource } from './worker.mapper';
import { WorkerRepository } from './worker.repository';

@Injectable()
export class WorkerService {
  constructor(
    private readonly repository: WorkerRepository,
    private readonly scheduling: SchedulingTrigger,
    private readonly replicas: ReplicaRegistry,
  ) {}

  /** Registration (Orchard's POST /v1/workers): create, or update the same machine's worker. */
  async register(input: WorkerDto): Promise<Worker> {
    const now = new Date();
    const result = await this.repository.register(
      {
        name: input.name,
        machineId: input.machine_id ?? '',
        lastSeen: parseOptionalTime(input.last_seen) ?? now,
        schedulingPaused: input.scheduling_paused,
        resources: input.resources ?? {},
        labels: input.labels ?? {},
        defaultCpu: input.defaultCPU ?? 0,
        defaultMemory: input.defaultMemory ?? 0,
        arch: input.arch || 'arm64',
        runtime: input.runtime || 'tart',
        capabilities: [...new Set(input.capabilities ?? [])],
      },
      now,
    );
    if (result.kind === 'machine-conflict') {
      throw DomainError.conflict(
        'this worker is managed from a different machine ID, delete this worker first to be able to re-create it',
      );
    }
    this.scheduling.request();
    return toWorkerResource(result.worker);
  }

  /** Every worker (for the scheduler: without session details, read on the workers' pool). */
  async list(): Promise<Worker[]> {
    return (await this.repository.listForScheduler()).map(toWorkerResource);
  }

  /** Names of the workers whose gRPC session is up on some replica (the health check counts them as seen now). */
  async connectedNames(): Promise<Set<string>> {
    const sessions = await this.replicas.sessions();
    return new Set([...sessions].filter(([, s]) => s.up).map(([name]) => name));
  }

  /** Every worker with where its session is held (`GET /v1/workers`). */
  async listWithSessions(): Promise<Worker[]> {
    const [workers, sessions] = await Promise.all([this.repository.list(), this.replicas.sessions()]);
    return workers.map((w) => withSession(toWorkerResource(w), sessions.get(w.name)));
  }

  async get(name: string): Promise<Worker> {
    const entity = await this.repository.find(name);
    if (!entity) {
      throw DomainError.notFound(`worker "${name}"`);
    }
    return toWorkerResource(entity);
  }

  /** One worker with where its session is held (`GET /v1/workers/{name}`). */
  async getWithSession(name: string): Promise<Worker> {
    const [worker, session] = await Promise.all([this.get(name), this.replicas.locate(name)]);
    return withSession(worker, session);
  }

  /**
   * Sparse update (heartbeats and pause/resume): `last_seen` only when given and non-zero (Orchard PR #439),
   * `scheduling_paused` only when given.
   */
  async update(name: string, input: WorkerDto): Promise<Worker> {
    const updated = await this.repository.updateFields(name, {
      lastSeen: parseOptionalTime(input.last_seen),
      // null (a JSON client's "unset") is absent too: the column cannot hold it (issue 12, found by the fuzz test).
      schedulingPaused: typeof input.scheduling_paused === 'boolean' ? input.scheduling_paused : undefined,
    });
    if (!updated) {
      throw DomainError.notFound(`worker "${name}"`);
    }
    if (typeof input.scheduling_paused === 'boolean') {
      this.scheduling.request();
    }
    return toWorkerResource(updated);
  }

  async delete(name: string): Promise<void> {
    if (!(await this.repository.delete(name))) {
      throw DomainError.notFound(`worker "${name}"`);
    }
    this.scheduling.request();
  }
}

function withSession(worker: Worker, session: WorkerSessionLocation | undefined): Worker {
  return session
    ? {
        ...worker,
        session: { replica: session.replica, connected_at: session.connectedAt.toISOString(), up: session.up },
      }
    : worker;
}
