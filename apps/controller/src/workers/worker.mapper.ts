import type { Architecture, Runtime, Worker } from '@grove/resources';
import type { WorkerEntity } from './worker.entity';

export function toWorkerResource(entity: WorkerEntity): Worker {
  return {
    name: entity.name,
    createdAt: entity.createdAt.toISOString(),
    last_seen: entity.lastSeen.toISOString(),
    machine_id: entity.machineId,
    scheduling_paused: entity.schedulingPaused,
    resources: entity.resources,
    labels: entity.labels,
    defaultCPU: entity.defaultCpu,
    defaultMemory: entity.defaultMemory,
    arch: entity.arch as Architecture,
    runtime: entity.runtime as Runtime,
  };
}
