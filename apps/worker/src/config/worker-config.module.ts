import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { VmRuntime } from '../runtime/vm-runtime';
import type { WorkerConfig } from './worker-config';

/** What a worker application is made from: its flags, its log and, in tests, stand-ins for the host. */
export interface WorkerModuleOptions {
  config: WorkerConfig;
  /**
   * Where the worker's lines go. main.ts makes it (stdout and `--log-file`) rather than a provider: it outlives the
   * application, for the lines about the shutdown and the final "stopped".
   */
  log: (line: string) => void;
  /** Tests: a runtime instead of the one `config.runtime` names. */
  runtime?: VmRuntime;
  /** Tests: a machine id instead of this host's. */
  machineId?: string;
  /** How often VMs are synced besides SyncVms; default 5 s, 0 for only on events (tests). */
  syncIntervalMs?: number;
}

/** The options given to `WorkerModule.register`. */
export const WORKER_OPTIONS = Symbol('WORKER_OPTIONS');
/** The worker's parsed flags (`WorkerConfig`). */
export const WORKER_CONFIG = Symbol('WORKER_CONFIG');
/** The worker's log: `(line: string) => void`. */
export const WORKER_LOG = Symbol('WORKER_LOG');

/** The worker's configuration and log, for every module (global: every part of the worker reads them). */
@Global()
@Module({})
export class WorkerConfigModule {
  static register(options: WorkerModuleOptions): DynamicModule {
    return {
      module: WorkerConfigModule,
      providers: [
        { provide: WORKER_OPTIONS, useValue: options },
        { provide: WORKER_CONFIG, useValue: options.config },
        { provide: WORKER_LOG, useValue: options.log },
      ],
      exports: [WORKER_OPTIONS, WORKER_CONFIG, WORKER_LOG],
    };
  }
}
