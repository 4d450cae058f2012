import { join } from 'node:path';
import type { WorkerConfig } from '../config/worker-config';
import { SyntheticRuntime } from './synthetic/synthetic-runtime';
import { TartRuntime, type TartObserver } from './tart/tart-runtime';
import type { VmRuntime } from './vm-runtime';

/** The runtime `--runtime` names, configured from the worker's flags; Tart tells `tart` about its commands (metrics). */
export function createRuntime(
  config: Pick<WorkerConfig, 'runtime' | 'dataDir' | 'syntheticDelays'>,
  log: (line: string) => void,
  tart?: TartObserver,
): VmRuntime {
  switch (config.runtime) {
    case 'tart':
      return new TartRuntime({ log, observer: tart });
    case 'synthetic':
      return new SyntheticRuntime({ dataDir: join(config.dataDir, 'synthetic'), delays: config.syntheticDelays, log });
  }
}
