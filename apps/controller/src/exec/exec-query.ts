import { DomainError, DomainErrorCode } from '../common/domain-error';
import { MAX_DETACH_TIMEOUT_SECONDS } from './exec-detach-timer';

/** Seconds to wait for the VM and the command when the request does not say (Orchard: 10). */
export const DEFAULT_EXEC_WAIT_SECONDS = 10;

/** Orchard's rule for environment variable names (sshexec.go). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * What a reconnectable session runs; two requests for the same session must agree on all of it (Orchard's
 * specMatches). `interactive` is already true when `tty` is.
 */
export interface ExecCommandSpec {
  command: string;
  interactive: boolean;
  tty: boolean;
  rows?: number;
  cols?: number;
  env: Record<string, string>;
  workdir?: string;
}

/** The query of `GET /v1/vms/{name}/exec`, checked (orchard.md §1.5). */
export interface ExecQuery {
  /** Absent when the request attaches to an existing session without restating its command. */
  spec?: ExecCommandSpec;
  /** The reconnectable session's id (`session`, else `cmux_session_id`); absent for a legacy session. */
  session?: string;
  waitSeconds: number;
  /** Grove extension: a created reconnectable session closes after this long without a socket (docs/exec.md). */
  detachTimeoutSeconds?: number;
}

function invalid(message: string): DomainError {
  return new DomainError(DomainErrorCode.InvalidInput, message);
}

/** Go's strconv.ParseBool: the spellings Orchard accepts. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) {
    return true;
  }
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) {
    return false;
  }
  return undefined;
}

function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  const text = query.get(name);
  if (text === null) {
    return undefined;
  }
  const value = parseGoBool(text);
  if (value === undefined) {
    throw invalid(`"${name}" parameter must be a boolean`);
  }
  return value;
}

function uint32Param(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null) {
    return undefined;
  }
  const value = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(value <= 0xffff_ffff)) {
    throw invalid(`"${name}" parameter must be an unsigned 32-bit integer`);
  }
  return value;
}

/**
 * The `env[NAME]=value` parameters, read the way gin's QueryMap does: the name is what lies between the first `[`
 * and the next `]`; `env[]` is ignored.
 */
function envParams(query: URLSearchParams): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of query) {
    if (!key.startsWith('env[')) {
      continue;
    }
    const close = key.indexOf(']', 4);
    if (close <= 4) {
      continue;
    }
    const name = key.slice(4, close);
    if (!(name in env)) {
      env[name] = value;
    }
  }
  return env;
}

/** Checks environment variable names and values: Orchard's rules for both exec endpoints. */
export function checkExecEnv(env: Record<string, string>): string | undefined {
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) {
      return `invalid environment variable name ${JSON.stringify(name)}`;
    }
    if (value.includes('\0')) {
      return `environment variable ${JSON.stringify(name)} cannot contain NUL characters`;
    }
  }
  return undefined;
}

/**
 * Parses the query string of an exec WebSocket request with Orchard's rules and messages (api_vms_exec.go): Go
 * ParseBool syntax, `stdin` as a deprecated alias of `interactive`, `tty` implying interactive, `rows` and `cols`
 * together. Throws a DomainError (400) naming the bad parameter.
 */
export function parseExecQuery(query: URLSearchParams): ExecQuery {
  const session = query.get('session') || query.get('cmux_session_id') || undefined;
  const command = query.get('command') ?? '';
  if (command === '' && session === undefined) {
    throw invalid('"command" parameter cannot be empty');
  }
  const interactiveParam = boolParam(query, 'interactive');
  const stdinParam = boolParam(query, 'stdin');
  if (interactiveParam !== undefined && stdinParam !== undefined && interactiveParam !== stdinParam) {
    throw invalid('"interactive" and "stdin" parameters cannot conflict');
  }
  const tty = boolParam(query, 'tty') ?? false;
  const interactive = (interactiveParam ?? stdinParam ?? false) || tty;
  const rows = uint32Param(query, 'rows');
  const cols = uint32Param(query, 'cols');
  if ((rows === undefined) !== (cols === undefined)) {
    throw invalid('"rows" and "cols" must be provided together');
  }
  const env = envParams(query);
  const envProblem = checkExecEnv(env);
  if (envProblem) {
    throw invalid(envProblem);
  }
  const workdir = query.get('workdir') || undefined;
  if (workdir?.includes('\0')) {
    throw invalid('"workdir" parameter cannot contain NUL characters');
  }
  const waitText = query.get('wait');
  let waitSeconds = DEFAULT_EXEC_WAIT_SECONDS;
  if (waitText !== null) {
    waitSeconds = /^\d{1,5}$/.test(waitText) ? Number(waitText) : NaN;
    if (!(waitSeconds <= 65535)) {
      throw invalid('"wait" parameter must be an integer from 0 to 65535 (seconds)');
    }
  }
  const detachTimeoutSeconds = detachTimeoutParam(query, session !== undefined);
  const spec: ExecCommandSpec | undefined =
    command === ''
      ? undefined
      : {
          command,
          interactive,
          tty,
          ...(rows !== undefined ? { rows, cols } : {}),
          env,
          ...(workdir !== undefined ? { workdir } : {}),
        };
  return {
    spec,
    ...(session !== undefined ? { session } : {}),
    waitSeconds,
    ...(detachTimeoutSeconds !== undefined ? { detachTimeoutSeconds } : {}),
  };
}

/** `detachTimeout=<seconds>`: 1 to 86400, and only for a reconnectable session (a legacy one ends with its socket). */
function detachTimeoutParam(query: URLSearchParams, reconnectable: boolean): number | undefined {
  const text = query.get('detachTimeout');
  if (text === null) {
    return undefined;
  }
  const seconds = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(seconds >= 1 && seconds <= MAX_DETACH_TIMEOUT_SECONDS)) {
    throw invalid(`"detachTimeout" parameter must be an integer from 1 to ${MAX_DETACH_TIMEOUT_SECONDS} (seconds)`);
  }
  if (!reconnectable) {
    throw invalid('"detachTimeout" parameter needs a reconnectable session (a "session" parameter)');
  }
  return seconds;
}

/** Whether two requests describe the same command (Orchard's specMatches, env compared as a set). */
export function sameCommandSpec(a: ExecCommandSpec, b: ExecCommandSpec): boolean {
  const envA = Object.entries(a.env).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const envB = Object.entries(b.env).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return (
    a.command === b.command &&
    a.interactive === b.interactive &&
    a.tty === b.tty &&
    a.rows === b.rows &&
    a.cols === b.cols &&
    (a.workdir ?? '') === (b.workdir ?? '') &&
    JSON.stringify(envA) === JSON.stringify(envB)
  );
}
