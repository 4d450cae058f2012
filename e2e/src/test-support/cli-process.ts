import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CLI_MAIN } from './paths';

export interface GroveResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface GroveRunOptions {
  /** GROVE_HOME of this invocation (contexts live there). */
  home: string;
  /** Extra environment, e.g. GROVE_SERVICE_ACCOUNT_TOKEN overrides. */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed; without it stdin is closed at once (no terminal, no prompts). */
  input?: string;
  timeoutMs?: number;
}

/** Variables of the test runner's environment that would change what the CLI does. */
const GROVE_VARIABLES = /^GROVE_(URL|SERVICE_ACCOUNT_NAME|SERVICE_ACCOUNT_TOKEN|HOME|DEBUG)$/;

/** The test runner's environment without the variables that would change what the CLI does. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !GROVE_VARIABLES.test(key)) {
      env[key] = value;
    }
  }
  return env;
}

/** Runs the built CLI (`node apps/cli/dist/main.js …`) as a child process and collects its output. */
export function runGrove(args: readonly string[], options: GroveRunOptions): Promise<GroveResult> {
  if (!existsSync(CLI_MAIN)) {
    throw new Error(`${CLI_MAIN} does not exist: build first with "npx tsc -b tsconfig.build.json"`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      env: { ...cleanEnv(), GROVE_HOME: options.home, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`grove ${args.join(' ')} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Fails the test with the command's output unless it exited 0. */
export function expectSuccess(result: { code: number | null; stdout: string; stderr: string }): void {
  if (result.code !== 0) {
    throw new Error(`failed with ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** `grove context create URL` for a service account, in `home`, as a new user would log in. */
export async function createContext(home: string, url: string, account: string, token: string): Promise<void> {
  expectSuccess(
    await runGrove(['context', 'create', url, '--service-account-name', account, '--service-account-token', token], {
      home,
    }),
  );
}
