import { Module } from '@nestjs/common';
import type { Vm } from '@grove/resources';
import { WORKER_CONFIG, WORKER_LOG } from '../config/worker-config.module';
import type { WorkerConfig } from '../config/worker-config';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { RuntimeModule, VM_RUNTIME } from '../runtime/runtime.module';
import type { VmRuntime } from '../runtime/vm-runtime';
import { SessionModule } from '../session/session.module';
import { WorkerTelemetry } from '../telemetry/worker-telemetry';
import { WorkerSession } from '../session/worker-session';
import type { VmStep } from '../vms/managed-vm';
import { startupScriptRunner } from '../vms/startup-script';
import { Reconciler } from './reconciler';
import { restControllerPort } from './rest-controller-port';

/**
 * The reconciler (VMs, their endpoints and host processes), talking to the controller over REST with the session's
 * credentials; GroveWorker asks it for passes and closes it.
 */
@Module({
  imports: [RuntimeModule, SessionModule],
  providers: [
    {
      provide: Reconciler,
      inject: [WORKER_CONFIG, WORKER_LOG, VM_RUNTIME, WorkerSession, WorkerMetrics, WorkerTelemetry],
      useFactory: (
        config: WorkerConfig,
        log: (line: string) => void,
        runtime: VmRuntime,
        session: WorkerSession,
        metrics: WorkerMetrics,
        telemetry: WorkerTelemetry,
      ) => {
        const controller = restControllerPort(session.api);
        // Each completed step is timed (metrics) and, for the steps of a start, traced.
        const onStep = (step: VmStep, seconds: number, vm: Vm) => {
          metrics.vmStep(step, seconds);
          telemetry.vmStep(step, seconds, vm);
        };
        const reconciler = new Reconciler({
          workerName: config.name,
          runtime,
          controller,
          runStartupScript: startupScriptRunner({
            runtime,
            events: (name, events) => controller.appendEvents(name, events),
            log,
            onStep,
          }),
          log,
          endpointAddress: config.endpointAddress,
          hostProcesses: config.hostProcesses,
          onVmStep: onStep,
        });
        metrics.countVms(() => [...reconciler.managed.values()].map((vm) => vm.state));
        return reconciler;
      },
    },
  ],
  exports: [Reconciler],
})
export class ReconcileModule {}
