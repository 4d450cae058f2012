import { Module } from '@nestjs/common';
import { WORKER_LOG } from '../config/worker-config.module';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { ReconcileModule } from '../reconcile/reconcile.module';
import { WorkerTelemetry } from '../telemetry/worker-telemetry';
import { Reconciler } from '../reconcile/reconciler';
import { ExecServer } from './exec-server';

/** The worker's end of exec sessions: the guest agent first, SSH when it does not answer. */
@Module({
  imports: [ReconcileModule],
  providers: [
    {
      provide: ExecServer,
      inject: [WORKER_LOG, Reconciler, WorkerMetrics, WorkerTelemetry],
      useFactory: (
        log: (line: string) => void,
        reconciler: Reconciler,
        metrics: WorkerMetrics,
        telemetry: WorkerTelemetry,
      ) => {
        const execs = new ExecServer({
          guestAgent: (vmUid) => reconciler.guestAgent(vmUid),
          connectVm: (vmUid, port, signal) => reconciler.connect(vmUid, port, signal),
          log,
          onSessionEnd: metrics.execEnded,
          tracing: telemetry.tracing,
        });
        metrics.countTunnelStreams('busy', () => execs.activeSessions);
        return execs;
      },
    },
  ],
  exports: [ExecServer],
})
export class ExecModule {}
