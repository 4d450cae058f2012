import { existsSync } from 'node:fs';
import { startNodeProcess, type RunningProcess } from '@grove/testing';
import { CLI_MAIN } from './paths';

/** Variables of the test runner's environment that would change what the CLI does (as in cli-process.ts). */
const GROVE_VARIABLES = /^GROVE_(URL|SERVICE_ACCOUNT_NAME|SERVICE_ACCOUNT_TOKEN|HOME|DEBUG)$/;

/**
 * Starts a long-running CLI command (`grove port-forward …`) in the background with GROVE_HOME `home` and stdin
 * closed; stop it with `stop('SIGINT')` (Ctrl-C). For commands that finish on their own, use `runGrove`.
 */
export function startGrove(args: readonly string[], home: string): RunningProcess {
  if (!existsSync(CLI_MAIN)) {
    throw new Error(`${CLI_MAIN} does not exist: build first with "npx tsc -b tsconfig.build.json"`);
  }
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !GROVE_VARIABLES.test(key)) {
      env[key] = value;
    }
  }
  return startNodeProcess([CLI_MAIN, ...args], { ...env, GROVE_HOME: home });
}
