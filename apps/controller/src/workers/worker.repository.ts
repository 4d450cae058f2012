import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, type Repository } from 'typeorm';
import { WorkerEntity } from './worker.entity';

export type WorkerRegistration = Omit<WorkerEntity, 'createdAt' | 'schedulingPaused'> & { schedulingPaused?: boolean };

export type RegisterResult = { kind: 'registered'; worker: WorkerEntity } | { kind: 'machine-conflict' };

@Injectable()
export class WorkerRepository {
  private readonly repo: Repository<WorkerEntity>;

  constructor(private readonly dataSource: DataSource) {
    this.repo = dataSource.getRepository(WorkerEntity);
  }

  find(name: string): Promise<WorkerEntity | null> {
    return this.repo.findOneBy({ name });
  }

  list(): Promise<WorkerEntity[]> {
    return this.repo.find({ order: { name: 'ASC' } });
  }

  /**
   * Creates the worker, or updates an existing one registered from the same machine. Runs under a row lock so that a
   * concurrent pause or heartbeat is not lost; `scheduling_paused` and `createdAt` survive re-registration.
   */
  register(input: WorkerRegistration, now: Date): Promise<RegisterResult> {
    return this.dataSource.transaction(async (em: EntityManager) => {
      await em
        .createQueryBuilder()
        .insert()
        .into(WorkerEntity)
        .values({ ...input, schedulingPaused: input.schedulingPaused ?? false, createdAt: now })
        .orIgnore()
        .execute();
      const existing = await em.findOne(WorkerEntity, {
        where: { name: input.name },
        lock: { mode: 'pessimistic_write' },
      });
      if (!existing) {
        throw new Error(`worker "${input.name}" vanished during registration`);
      }
      if (existing.machineId !== input.machineId) {
        return { kind: 'machine-conflict' };
      }
      const { schedulingPaused: _ignored, ...fields } = input;
      Object.assign(existing, fields);
      await em.save(existing);
      return { kind: 'registered', worker: existing };
    });
  }

  /** Sparse update under a row lock; returns null when the worker does not exist. */
  update(name: string, apply: (worker: WorkerEntity) => void): Promise<WorkerEntity | null> {
    return this.dataSource.transaction(async (em: EntityManager) => {
      const worker = await em.findOne(WorkerEntity, { where: { name }, lock: { mode: 'pessimistic_write' } });
      if (!worker) {
        return null;
      }
      apply(worker);
      await em.save(worker);
      return worker;
    });
  }

  async delete(name: string): Promise<boolean> {
    const result = await this.repo.delete({ name });
    return (result.affected ?? 0) > 0;
  }
}
