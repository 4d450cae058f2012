import { Global, Module } from '@nestjs/common';
import { WORKER_CONFIG, WORKER_LOG } from '../config/worker-config.module';
import type { WorkerConfig } from '../config/worker-config';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { WorkerTelemetry } from './worker-telemetry';

/**
 * The worker's OTLP export (issue 14). Global: the tunnel and exec servers and the reconciler record their spans
 * through it. Made while the application's providers are (not in a later hook), so that those servers get their
 * `tracing` when they are made.
 */
@Global()
@Module({
  providers: [
    {
      provide: WorkerTelemetry,
      inject: [WORKER_CONFIG, WORKER_LOG, WorkerMetrics],
      useFactory: (config: WorkerConfig, log: (line: string) => void, metrics: WorkerMetrics) =>
        new WorkerTelemetry({ config: config.telemetry, workerName: config.name, metrics, log }),
    },
  ],
  exports: [WorkerTelemetry],
})
export class TelemetryModule {}
