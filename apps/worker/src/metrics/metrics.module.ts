import { Global, Module } from '@nestjs/common';
import { WorkerMetrics } from './worker-metrics';

/** The worker's metrics, one registry per application (global: the runtime, session, reconciler and exec feed it). */
@Global()
@Module({
  providers: [{ provide: WorkerMetrics, useFactory: () => new WorkerMetrics() }],
  exports: [WorkerMetrics],
})
export class MetricsModule {}
