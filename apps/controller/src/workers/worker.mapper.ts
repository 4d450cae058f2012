import { workerLabels, type Architecture, type Runtime, type Worker } from '@grove/resources';
import type { WorkerEntity } from './worker.entity';

export function toWorkerResource(entity: WorkerEntity): Worker {
  return {
    name: entity.name,
    createdAt: entity.createdAt.toISOString(),
    last_seen: entity.lastSeen.toISOString(),
    machine_id: entity.machineId,
    scheduling_paused: entity.schedulingPaused,
    resources: entity.resources,
    labels: workerLabels(entity.name, entity.labels),
    defaultCPU: entity.defaultCpu,
    defaultMemory: entity.defaultMemory,
    arch: entity.arch as Architecture,
    runtime: entity.runtime as Runtime,
    capabilities: entity.capabilities,
  };
}
