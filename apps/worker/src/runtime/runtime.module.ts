import { Module } from '@nestjs/common';
import { WORKER_CONFIG, WORKER_LOG, WORKER_OPTIONS, type WorkerModuleOptions } from '../config/worker-config.module';
import type { WorkerConfig } from '../config/worker-config';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { createRuntime } from './create-runtime';

/** The `VmRuntime` (`tart` or `synthetic`) the worker drives. */
export const VM_RUNTIME = Symbol('VM_RUNTIME');

/** The VM runtime `--runtime` names, made once per worker; GroveWorker starts it and closes it. */
@Module({
  providers: [
    {
      provide: VM_RUNTIME,
      inject: [WORKER_OPTIONS, WORKER_CONFIG, WORKER_LOG, WorkerMetrics],
      useFactory: (
        options: WorkerModuleOptions,
        config: WorkerConfig,
        log: (line: string) => void,
        metrics: WorkerMetrics,
      ) => options.runtime ?? createRuntime(config, log, metrics.tart),
    },
  ],
  exports: [VM_RUNTIME],
})
export class RuntimeModule {}
