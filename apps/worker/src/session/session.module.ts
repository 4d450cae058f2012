import { Module } from '@nestjs/common';
import { WORKER_CAPABILITY_HOST_PROCESSES } from '@grove/resources';
import { WORKER_CONFIG, WORKER_LOG, WORKER_OPTIONS, type WorkerModuleOptions } from '../config/worker-config.module';
import type { WorkerConfig } from '../config/worker-config';
import { readMachineId } from '../machine-id';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { RuntimeModule, VM_RUNTIME } from '../runtime/runtime.module';
import type { VmRuntime } from '../runtime/vm-runtime';
import { SessionHealth } from './session-health';
import { WorkerSession } from './worker-session';

/**
 * The worker's session with the controller (register, gRPC session, heartbeats, the pool of idle tunnels) and its
 * health for `/healthz`. GroveWorker runs and stops the session.
 */
@Module({
  imports: [RuntimeModule],
  providers: [
    {
      provide: WorkerSession,
      inject: [WORKER_OPTIONS, WORKER_CONFIG, WORKER_LOG, VM_RUNTIME, WorkerMetrics],
      useFactory: async (
        options: WorkerModuleOptions,
        config: WorkerConfig,
        log: (line: string) => void,
        runtime: VmRuntime,
        metrics: WorkerMetrics,
      ) => {
        const session = new WorkerSession({
          controllerUrl: config.controllerUrl,
          serviceAccountName: config.credentials.serviceAccountName,
          serviceAccountToken: config.credentials.serviceAccountToken,
          certificatePem: config.credentials.certificatePem,
          heartbeatIntervalMs: config.heartbeatIntervalMs,
          identity: {
            name: config.name,
            machineId: options.machineId ?? (await readMachineId()),
            labels: config.labels,
            resources: config.resources,
            defaultCpu: config.defaultCpu,
            defaultMemory: config.defaultMemory,
            runtime: runtime.reportedRuntime,
            // The synthetic runtime stands in for Apple Silicon, so that VMs created with the defaults land on it.
            arch: config.runtime === 'synthetic' || process.arch === 'arm64' ? 'arm64' : 'amd64',
            // Without host processes (`--no-host-processes`) the capability is left out, and VMs that declare them are
            // not placed here.
            capabilities: config.hostProcesses ? [WORKER_CAPABILITY_HOST_PROCESSES] : [],
          },
          log,
        });
        metrics.countTunnelStreams('idle', () => session.idleTunnels);
        metrics.countIdleLinks(() => session.idleLinks);
        return session;
      },
    },
    {
      provide: SessionHealth,
      inject: [WorkerSession],
      useFactory: (session: WorkerSession) => new SessionHealth(session),
    },
  ],
  exports: [WorkerSession, SessionHealth],
})
export class SessionModule {}
