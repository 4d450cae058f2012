import { Module } from '@nestjs/common';
import { WORKER_CONFIG, WORKER_LOG } from '../config/worker-config.module';
import type { WorkerConfig } from '../config/worker-config';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { ReconcileModule } from '../reconcile/reconcile.module';
import { WorkerTelemetry } from '../telemetry/worker-telemetry';
import { Reconciler } from '../reconcile/reconciler';
import { SessionModule } from './session.module';
import { TunnelServer } from './tunnel-server';
import { WorkerSession } from './worker-session';

/** The worker's end of port-forward sessions: tunnels to VM ports, guest agents, host processes and the host. */
@Module({
  imports: [SessionModule, ReconcileModule],
  providers: [
    {
      provide: TunnelServer,
      inject: [WORKER_CONFIG, WORKER_LOG, Reconciler, WorkerSession, WorkerMetrics, WorkerTelemetry],
      useFactory: (
        config: WorkerConfig,
        log: (line: string) => void,
        reconciler: Reconciler,
        session: WorkerSession,
        metrics: WorkerMetrics,
        telemetry: WorkerTelemetry,
      ) => {
        const tunnels = new TunnelServer({
          connectVm: (vmUid, port, signal) => reconciler.connect(vmUid, port, signal),
          guestAgent: (vmUid) => reconciler.guestAgent(vmUid),
          ...(config.hostProcesses
            ? { connectHostProcess: (vmUid, name, signal) => reconciler.connectHostProcess(vmUid, name, signal) }
            : {}),
          minRttMs: () => session.minRttMs,
          log,
          tracing: telemetry.tracing,
        });
        metrics.countTunnelStreams('busy', () => tunnels.activeSessions);
        return tunnels;
      },
    },
  ],
  exports: [TunnelServer],
})
export class TunnelsModule {}
