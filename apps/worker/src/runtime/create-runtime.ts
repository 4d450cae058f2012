import { join } from 'node:path';
import type { WorkerConfig } from '../config/worker-config';
import { SyntheticRuntime } from './synthetic/synthetic-runtime';
import { TartRuntime } from './tart/tart-runtime';
import type { VmRuntime } from './vm-runtime';

/** The runtime `--runtime` names, configured from the worker's flags. */
export function createRuntime(
  config: Pick<WorkerConfig, 'runtime' | 'dataDir' | 'syntheticDelays'>,
  log: (line: string) => void,
): VmRuntime {
  switch (config.runtime) {
    case 'tart':
      return new TartRuntime({ log });
    case 'synthetic':
      return new SyntheticRuntime({ dataDir: join(config.dataDir, 'synthetic'), delays: config.syntheticDelays, log });
  }
}
