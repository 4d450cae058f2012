import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from '@grove/testing';
import { REPO_ROOT } from '../test-support/paths';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The Docker client first on PATH, DOCKER_HOST naming the daemon: scripts/test-compose.sh sets both. */
const DOCKER = 'docker';

/**
 * Runs a program to its end and collects its output; `input` is written to its stdin, which is then closed. Fails
 * when it is still running after `timeoutMs`.
 */
export function run(
  program: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Fails with the command's output unless it exited 0; returns its stdout. */
export function succeeded(what: string, result: CommandResult): string {
  if (result.code !== 0) {
    throw new Error(`${what} failed with ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return result.stdout;
}

/** `docker ARGS` against the stage's daemon; resolves with stdout, trimmed. */
export async function docker(args: readonly string[], timeoutMs?: number): Promise<string> {
  return succeeded(`docker ${args.join(' ')}`, await run(DOCKER, args, { timeoutMs })).trim();
}

/**
 * A measurement for the stage's summary (GROVE_COMPOSE_REPORT, which scripts/test-compose.sh prints at the end), and
 * for the test's own output.
 */
export function report(line: string): void {
  const file = process.env['GROVE_COMPOSE_REPORT'];
  if (file) {
    appendFileSync(file, `${line}\n`);
  }
  process.stdout.write(`    ${line}\n`);
}

/** The host ports a project publishes, on 127.0.0.1 only. */
export interface PublishedPorts {
  api: number;
  grpc: number;
  ssh: number;
}

export async function freePorts(): Promise<PublishedPorts> {
  return { api: await freePort(), grpc: await freePort(), ssh: await freePort() };
}

/**
 * One of the files in docker/ run as a compose project of its own (`docker-compose -p NAME -f FILE`), its ports
 * published on 127.0.0.1 at free ports through the files' GROVE_PUBLISH_* variables, as an operator would move them.
 */
export class ComposeProject {
  readonly ports: PublishedPorts;
  private readonly env: NodeJS.ProcessEnv;
  /** Override files after the docker/ one (`-f FILE -f OVERRIDE`), as an operator adds their own settings. */
  private readonly overrides: string[] = [];

  constructor(
    readonly file: 'compose.yml' | 'compose.ha.yml',
    readonly name: string,
    ports: PublishedPorts,
    extraEnv: Record<string, string> = {},
  ) {
    this.ports = ports;
    this.env = {
      ...process.env,
      GROVE_PUBLISH_ADDRESS: '127.0.0.1',
      GROVE_PUBLISH_API_PORT: String(ports.api),
      GROVE_PUBLISH_GRPC_PORT: String(ports.grpc),
      GROVE_PUBLISH_SSH_PORT: String(ports.ssh),
      ...extraEnv,
    };
  }

  /** The controller (or HAProxy in front of the controllers) as clients reach it. */
  get url(): string {
    return `https://127.0.0.1:${this.ports.api}`;
  }

  /** From now on, every command reads `file` too, after the project's own file. */
  addOverride(file: string): void {
    this.overrides.push(file);
  }

  /** `docker-compose ARGS` in this project (`input` on its stdin); resolves with stdout, fails with the output. */
  async compose(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const files = [join(REPO_ROOT, 'docker', this.file), ...this.overrides].flatMap((file) => ['-f', file]);
    const all = ['-p', this.name, ...files, ...args];
    return succeeded(
      `docker-compose ${args.join(' ')}`,
      await run('docker-compose', all, {
        env: this.env,
        timeoutMs: options.timeoutMs ?? 180_000,
        input: options.input,
      }),
    );
  }

  async containerId(service: string): Promise<string> {
    const id = (await this.compose(['ps', '-q', service])).trim();
    if (!id) {
      throw new Error(`${this.name} has no container of ${service}`);
    }
    return id;
  }

  /** `docker inspect --format FORMAT` of the service's container. */
  async inspect(service: string, format: string): Promise<string> {
    return docker(['inspect', '--format', format, await this.containerId(service)]);
  }

  /** Everything the service's current container printed, stdout and stderr, without compose's prefixes. */
  async logs(service: string): Promise<string> {
    const result = await run(DOCKER, ['logs', await this.containerId(service)]);
    return succeeded(`docker logs ${service}`, result) + result.stderr;
  }

  /** Waits until Docker's health check calls the service's container healthy; resolves with how long that took. */
  async untilHealthy(service: string, timeoutMs = 180_000): Promise<number> {
    const start = Date.now();
    await waitFor(
      `${service} of ${this.name} healthy`,
      async () => {
        const state = await this.inspect(
          service,
          '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}',
        );
        if (state.startsWith('exited') || state.startsWith('dead')) {
          throw new Error(`${service} stopped: ${state}\n${await this.logs(service)}`);
        }
        return state === 'running healthy';
      },
      timeoutMs,
      500,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await this.logs(service).catch(() => '')}`, { cause: err });
    });
    return Date.now() - start;
  }
}
