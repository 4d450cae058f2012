import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { CliError, UsageError } from '../cli.errors';
import { configPath, groveHome, loadConfig, saveConfig } from '../config/config-file';
import type { CommandIo } from './io';

export interface ControllerRunOptions {
  listen: string;
  listenGrpc?: string;
  dataDir?: string;
  insecureNoTls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

/** The argv for the controller's entry script: exactly the flags `grove controller run` was given. */
export function controllerArgs(main: string, options: ControllerRunOptions, io: Pick<CommandIo, 'env'>): string[] {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError('--tls-cert and --tls-key must be given together');
  }
  if (options.insecureNoTls && options.tlsCert !== undefined) {
    throw new UsageError('--insecure-no-tls cannot be combined with --tls-cert/--tls-key');
  }
  const args = [
    main,
    '--listen',
    options.listen,
    '--data-dir',
    options.dataDir ?? join(groveHome(io.env), 'controller'),
  ];
  if (options.listenGrpc !== undefined) {
    args.push('--listen-grpc', options.listenGrpc);
  }
  if (options.insecureNoTls) {
    args.push('--insecure-no-tls');
  }
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    args.push('--tls-cert', options.tlsCert, '--tls-key', options.tlsKey);
  }
  return args;
}

/** The entry script of a Grove server package (`controller` or `worker`), which runs as a separate process. */
function serverMain(pkg: 'controller' | 'worker'): string {
  let packageJson: string;
  try {
    // Not an import: only the path of the entry script; no server code is loaded into the CLI.
    packageJson = require.resolve(`@grove/${pkg}/package.json`);
  } catch (err) {
    throw new CliError(`the Grove ${pkg} package (@grove/${pkg}) is not installed next to the CLI`, { cause: err });
  }
  const main = join(dirname(packageJson), 'dist/main.js');
  if (!existsSync(main)) {
    throw new CliError(`the Grove ${pkg} is not built: ${main} is missing`);
  }
  return main;
}

function controllerMain(): string {
  return serverMain('controller');
}

export interface WorkerRunOptions {
  bootstrapToken?: string;
  bootstrapTokenStdin?: boolean;
  bootstrapTokenFile?: string;
  name?: string;
  labels?: string[];
  resources?: string[];
  defaultCpu?: string;
  defaultMemory?: string;
}

/** The worker's argv: exactly what `grove worker run` was given; the worker validates it. */
export function workerArgs(main: string, url: string, options: WorkerRunOptions): string[] {
  const args = [main, url];
  const single: [string, string | undefined][] = [
    ['--bootstrap-token', options.bootstrapToken],
    ['--bootstrap-token-file', options.bootstrapTokenFile],
    ['--name', options.name],
    ['--default-cpu', options.defaultCpu],
    ['--default-memory', options.defaultMemory],
  ];
  for (const [flag, value] of single) {
    if (value !== undefined) {
      args.push(flag, value);
    }
  }
  if (options.bootstrapTokenStdin) {
    args.push('--bootstrap-token-stdin');
  }
  for (const label of options.labels ?? []) {
    args.push('--labels', label);
  }
  for (const resource of options.resources ?? []) {
    args.push('--resources', resource);
  }
  return args;
}

/** Runs the worker in the foreground (stdin passed through for --bootstrap-token-stdin). */
export function workerRun(_io: CommandIo, url: string, options: WorkerRunOptions): Promise<number> {
  return spawnController(workerArgs(serverMain('worker'), url, options), process.env).exit;
}

/**
 * Starts the controller as a child process (the CLI never loads controller code itself) with SIGINT and SIGTERM
 * forwarded to it. `exit` resolves with the child's exit code.
 */
function spawnController(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; exit: Promise<number> } {
  const child = spawn(process.execPath, args, { stdio: 'inherit', env });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  for (const signal of signals) {
    process.on(signal, forward);
  }
  const cleanup = (): void => {
    for (const signal of signals) {
      process.off(signal, forward);
    }
  };
  const exit = new Promise<number>((resolve, reject) => {
    child.once('error', (err) => {
      cleanup();
      reject(new CliError(`cannot start the controller: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      cleanup();
      // A child killed by a signal exits like a shell reports it: 128 + signal number.
      resolve(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1));
    });
  });
  return { child, exit };
}

/** Runs the controller in the foreground; resolves with its exit code. */
export function controllerRun(io: CommandIo, options: ControllerRunOptions): Promise<number> {
  return spawnController(controllerArgs(controllerMain(), options, io), process.env).exit;
}

export interface DevOptions {
  listen: string;
  dataDir?: string;
}

/** The dev admin token is kept in the data dir so that the `dev` context stays valid across restarts. */
function devAdminToken(dataDir: string): string {
  const file = join(dataDir, 'dev-admin-token');
  if (existsSync(file)) {
    return readFileSync(file, 'utf8').trim();
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet(`${url}/v1/`, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => req.destroy());
  });
}

/**
 * `grove dev`: a controller on the embedded database, plain HTTP on loopback, authentication on, and a `dev`
 * context (made the default) holding the admin credentials. Ctrl-C stops everything.
 */
export async function devRun(io: CommandIo, options: DevOptions): Promise<number> {
  const { host, port } = parseListen(options.listen);
  const dataDir = options.dataDir ? resolve(options.dataDir) : join(groveHome(io.env), 'dev');
  const token = devAdminToken(dataDir);
  const args = [
    ...controllerArgs(
      controllerMain(),
      // Worker sessions on the next port of the same address (any free port when the API's is chosen freely).
      {
        listen: options.listen,
        listenGrpc: `${host.includes(':') ? `[${host}]` : host}:${port === 0 ? 0 : port + 1}`,
        dataDir,
        insecureNoTls: true,
      },
      io,
    ),
    '--swagger-ui',
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, GROVE_BOOTSTRAP_ADMIN_TOKEN: token };
  delete env['GROVE_DATABASE_URL'];
  io.out(`Starting a development controller (data in ${dataDir})...\n`);
  const { child, exit } = spawnController(args, env);
  const url = `http://${host === '0.0.0.0' || host === '' ? '127.0.0.1' : host}:${port}`;
  const deadline = Date.now() + 120_000;
  let exited = false;
  void exit.finally(() => (exited = true));
  while (!(await answers(url))) {
    if (exited) {
      return exit;
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new CliError(`the controller did not answer at ${url} within 120 s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const path = configPath(io.env);
  const config = loadConfig(path);
  config.contexts['dev'] = { url, serviceAccountName: 'bootstrap-admin', serviceAccountToken: token };
  config.defaultContext = 'dev';
  saveConfig(path, config);
  io.out(
    [
      '',
      `Grove is running at ${url} (embedded database, no TLS, authentication on).`,
      `The "dev" context in ${path} holds the bootstrap-admin credentials and is now the default.`,
      `API explorer: ${url}/v1/docs`,
      'Try, in another terminal:',
      '  npx grove create vm v1 --image ghcr.io/cirruslabs/macos-tahoe-base:latest',
      '  npx grove list vms',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  return exit;
}

function parseListen(text: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(text);
  if (!match || Number(match[2]) > 65535) {
    throw new UsageError(`--listen "${text}" is not of the form HOST:PORT`);
  }
  return { host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}
