import { existsSync } from 'node:fs';
import { startNodeProcess, type RunningProcess } from '@grove/testing';
import { cleanEnv } from './cli-process';
import { CLI_MAIN } from './paths';

/**
 * Starts a long-running CLI command (`grove port-forward …`) in the background with GROVE_HOME `home` and stdin
 * closed; stop it with `stop('SIGINT')` (Ctrl-C). For commands that finish on their own, use `runGrove`.
 */
export function startGrove(args: readonly string[], home: string): RunningProcess {
  if (!existsSync(CLI_MAIN)) {
    throw new Error(`${CLI_MAIN} does not exist: build first with "npx tsc -b tsconfig.build.json"`);
  }
  return startNodeProcess([CLI_MAIN, ...args], { ...cleanEnv(), GROVE_HOME: home });
}
