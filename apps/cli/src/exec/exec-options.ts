import { UsageError } from '../cli.errors';
import type { Env } from '../config/config-file';

/** The variable names the exec API accepts (orchard.md §1.5: `env[NAME]`). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The `-e` flags as the API's `env` map. `NAME=VALUE` sets VALUE (which may be empty or contain `=`); a bare `NAME`
 * passes this machine's value of NAME, as `docker exec -e NAME` does. The last flag for a name wins.
 */
export function parseEnvFlags(flags: readonly string[], local: Env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const name = eq === -1 ? flag : flag.slice(0, eq);
    if (!ENV_NAME.test(name)) {
      throw new UsageError(
        `invalid -e/--env "${flag}": the variable name "${name}" must match [A-Za-z_][A-Za-z0-9_]* (use -e NAME=VALUE)`,
      );
    }
    if (eq === -1) {
      const value = local[name];
      if (value === undefined) {
        throw new UsageError(`invalid -e/--env "${flag}": ${name} is not set here (use -e ${name}=VALUE)`);
      }
      env[name] = value;
    } else {
      env[name] = flag.slice(eq + 1);
    }
  }
  return env;
}
