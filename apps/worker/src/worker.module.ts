import 'reflect-metadata';
import { type DynamicModule, type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  WORKER_LOG,
  WORKER_OPTIONS,
  WorkerConfigModule,
  type WorkerModuleOptions,
} from './config/worker-config.module';
import { ExecModule } from './exec/exec.module';
import { ExecServer } from './exec/exec-server';
import { GroveWorker } from './grove-worker';
import { MetricsModule } from './metrics/metrics.module';
import { MetricsServerModule } from './metrics/metrics-server.module';
import { ReconcileModule } from './reconcile/reconcile.module';
import { Reconciler } from './reconcile/reconciler';
import { RuntimeModule, VM_RUNTIME } from './runtime/runtime.module';
import type { VmRuntime } from './runtime/vm-runtime';
import { SessionModule } from './session/session.module';
import { TelemetryModule } from './telemetry/telemetry.module';
import { TunnelServer } from './session/tunnel-server';
import { TunnelsModule } from './session/tunnels.module';
import { WorkerSession } from './session/worker-session';

/**
 * The worker application (docs/worker-internals.md): configuration, metrics, runtime, session, reconciler, tunnels and
 * exec as modules, and GroveWorker, which wires their events together and runs and stops them, at the root.
 */
@Module({})
export class WorkerModule {
  static register(options: WorkerModuleOptions): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        WorkerConfigModule.register(options),
        MetricsModule,
        TelemetryModule,
        RuntimeModule,
        SessionModule,
        ReconcileModule,
        TunnelsModule,
        ExecModule,
        MetricsServerModule,
      ],
      providers: [
        {
          provide: GroveWorker,
          inject: [WORKER_OPTIONS, WORKER_LOG, WorkerSession, Reconciler, TunnelServer, ExecServer, VM_RUNTIME],
          useFactory: (
            { syncIntervalMs }: WorkerModuleOptions,
            log: (line: string) => void,
            session: WorkerSession,
            reconciler: Reconciler,
            tunnels: TunnelServer,
            execs: ExecServer,
            runtime: VmRuntime,
          ) => new GroveWorker({ session, reconciler, tunnels, execs, runtime, log, syncIntervalMs }),
        },
      ],
    };
  }
}

/**
 * Creates and starts a worker application: the listener listens, then GroveWorker starts the runtime and the session
 * in the background. `app.close()` stops it (GroveWorker's `stop`, then the listener); `app.get(GroveWorker).finished`
 * settles when its run has ended. Nest logs nothing of its own (the worker's log is its own), and a failure while
 * starting rejects instead of aborting the process.
 */
export function createWorkerApplication(options: WorkerModuleOptions): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(WorkerModule.register(options), { logger: false, abortOnError: false });
}
