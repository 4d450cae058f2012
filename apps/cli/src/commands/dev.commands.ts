import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer, isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { encodeBootstrapToken } from '@grove/resources';
import { CliError, UsageError } from '../cli.errors';
import { configPath, groveHome, loadConfig, saveConfig } from '../config/config-file';
import { controllerArgs, controllerMain, parseListen, serverMain, spawnController } from './controller.commands';
import type { CommandIo } from './io';

export interface DevOptions {
  listen: string;
  dataDir?: string;
  /** How many workers to start next to the controller. */
  workers?: number;
  /** Their VM runtime: `synthetic` (default) or `tart` (macOS). */
  runtime?: string;
  /** Where the SSH gateway listens; default: the listen address with its port + 2 (6122 for 6120), `off` for none. */
  listenSsh?: string;
  /** Let VMs mount any host directory, without cluster host-dir policies (Orchard's `orchard dev` flag). */
  insecureAllowHostDirs?: boolean;
  /** Serve the controller's `/metrics` without credentials. */
  metricsPublic?: boolean;
}

/**
 * The dev controller's flags beyond `grove controller run`'s: Swagger UI, and the host-directory and public-metrics
 * switches if given.
 */
export function devControllerFlags(options: Pick<DevOptions, 'insecureAllowHostDirs' | 'metricsPublic'>): string[] {
  return [
    '--swagger-ui',
    ...(options.insecureAllowHostDirs ? ['--insecure-allow-host-dirs'] : []),
    ...(options.metricsPublic ? ['--metrics-public'] : []),
  ];
}

/** The dev SSH gateway's address: given, or the API's host with port + 2 (any free port when the API's is). */
export function devSshListen(host: string, port: number, given: string | undefined): string | undefined {
  if (given === 'off') {
    return undefined;
  }
  if (given !== undefined) {
    parseListen(given);
    return given;
  }
  return hostPort(host, port === 0 ? 0 : port + 2);
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

/** The names of the dev workers: `dev-worker-1` … `dev-worker-N`. */
export function devWorkerNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `dev-worker-${i + 1}`);
}

/**
 * Where dev worker N (from 0) serves /healthz and /metrics: the API's host (loopback unless it is an IP address) with
 * port + 10 + N (6130, 6131, … for 6120), or any free port when the API's is chosen freely or that one is taken.
 */
export async function devMetricsListen(
  host: string,
  port: number,
  index: number,
  isFree: (host: string, port: number) => Promise<boolean> = portFree,
): Promise<string> {
  const address = isIP(host) === 0 ? '127.0.0.1' : host;
  const wanted = port === 0 || port + 10 + index > 65535 ? 0 : port + 10 + index;
  const chosen = wanted !== 0 && (await isFree(address, wanted)) ? wanted : 0;
  return hostPort(address, chosen);
}

/** Whether `host:port` can be listened on now. */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** `HOST:PORT`, with an IPv6 host in brackets. */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The dev controller's URL (API, console, workers): a wildcard listen is reached on loopback, IPv6 in brackets. */
export function devControllerUrl(host: string, port: number): string {
  return `http://${hostPort(host === '0.0.0.0' || host === '' || host === '::' ? '127.0.0.1' : host, port)}`;
}

/** The argv of one dev worker; the token travels in a 0600 file, never on a command line. */
export function devWorkerArgs(
  main: string,
  url: string,
  name: string,
  options: { tokenFile: string; dataDir: string; runtime: string; listenMetrics?: string },
): string[] {
  return [
    main,
    url,
    '--bootstrap-token-file',
    options.tokenFile,
    '--name',
    name,
    '--runtime',
    options.runtime,
    '--data-dir',
    join(options.dataDir, 'workers', name),
    ...(options.listenMetrics !== undefined ? ['--listen-metrics', options.listenMetrics] : []),
  ];
}

/** Starts a worker whose output lines are prefixed with its name, so that N workers stay readable in one terminal. */
function spawnWorker(args: string[], name: string, io: CommandIo): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  for (const [stream, write] of [
    [child.stdout, (text: string) => io.out(text)],
    [child.stderr, (text: string) => io.err(text)],
  ] as const) {
    createInterface({ input: stream }).on('line', (line) => write(`[${name}] ${line}\n`));
  }
  return child;
}

/**
 * `grove dev`: a controller on the embedded database, plain HTTP on loopback, authentication on, a `dev` context
 * (made the default) holding the admin credentials, and N workers (synthetic VMs unless `--runtime tart`). Ctrl-C
 * stops the workers (which delete their VMs) and the controller.
 */
export async function devRun(io: CommandIo, options: DevOptions): Promise<number> {
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
    throw new UsageError(`--workers "${options.workers}" must be a whole number from 0 to 64`);
  }
  const runtime = options.runtime ?? 'synthetic';
  if (runtime !== 'synthetic' && runtime !== 'tart') {
    throw new UsageError(`--runtime "${runtime}" must be synthetic or tart`);
  }
  const { host, port } = parseListen(options.listen);
  const dataDir = options.dataDir ? resolve(options.dataDir) : join(groveHome(io.env), 'dev');
  const token = devAdminToken(dataDir);
  const listenSsh = devSshListen(host, port, options.listenSsh);
  const workerMain = workers > 0 ? serverMain('worker') : '';
  const args = [
    ...controllerArgs(
      controllerMain(),
      // Worker sessions on the next port of the same address (any free port when the API's is chosen freely).
      {
        listen: options.listen,
        listenGrpc: hostPort(host, port === 0 ? 0 : port + 1),
        dataDir,
        insecureNoTls: true,
        ...(listenSsh !== undefined ? { listenSsh } : {}),
      },
      io,
    ),
    ...devControllerFlags(options),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, GROVE_BOOTSTRAP_ADMIN_TOKEN: token };
  delete env['GROVE_DATABASE_URL'];
  io.out(`Starting a development controller (data in ${dataDir})...\n`);
  const { child, exit } = spawnController(args, env);
  const url = devControllerUrl(host, port);
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

  const names = devWorkerNames(workers);
  const metricsListen: string[] = [];
  for (const index of names.keys()) {
    metricsListen.push(await devMetricsListen(host, port, index));
  }
  const children = startWorkers(io, { url, token, dataDir, runtime, names, metricsListen, main: workerMain });
  const stopWorkers = (signal: NodeJS.Signals) => children.forEach((worker) => worker.kill(signal));
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  signals.forEach((signal) => process.on(signal, stopWorkers));
  // Workers without their controller would only retry forever.
  void exit.then(() => stopWorkers('SIGTERM'));

  io.out(
    [
      '',
      `Grove is running at ${url} (embedded database, no TLS, authentication on).`,
      `The "dev" context in ${path} holds the bootstrap-admin credentials and is now the default.`,
      names.length > 0
        ? `Workers: ${names.join(', ')} (${runtime} runtime${
            runtime === 'synthetic'
              ? '; VMs are in-process: SSH on VM port 22 runs commands with /bin/sh on this host, echo on port 7, ' +
                'VNC on port 5900, a web page on port 80'
              : ''
          }).`
        : 'No workers (--workers 0): start one with `grove worker run`.',
      ...workerMetricsHelp(names, metricsListen),
      options.metricsPublic
        ? `Controller metrics: ${url}/metrics (no credentials needed: --metrics-public).`
        : `Controller metrics: ${url}/metrics (as bootstrap-admin, or any account with admin:read).`,
      `Web console: ${url}/ui/ (sign in as bootstrap-admin with the token in ${join(dataDir, 'dev-admin-token')}).`,
      `API explorer: ${url}/v1/docs`,
      ...(options.insecureAllowHostDirs
        ? [
            'Host directories: every path is allowed (--insecure-allow-host-dirs), whatever the cluster policies say:',
            `  npx grove create vm v2 --image any --host-dirs src:${process.cwd()}`,
          ]
        : []),
      ...sshGatewayHelp(listenSsh),
      'Try, in another terminal:',
      `  npx grove create vm v1 --image ${runtime === 'synthetic' ? 'any' : 'ghcr.io/cirruslabs/macos-tahoe-base:latest'}`,
      '  npx grove list vms',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  const [code] = await Promise.all([exit, ...children.map((worker) => exitOf(worker))]);
  signals.forEach((signal) => process.off(signal, stopWorkers));
  return code;
}

/** Where each dev worker serves /healthz and /metrics, for the start-up message. */
function workerMetricsHelp(names: string[], listen: string[]): string[] {
  if (names.length === 0) {
    return [];
  }
  return [
    'Worker health and metrics:',
    ...names.map((name, i) => {
      const { host, port } = parseListen(listen[i]);
      const reach = hostPort(host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, port);
      return port === 0
        ? `  ${name}: the address in its "serving /healthz and /metrics" log line`
        : `  ${name}: http://${reach}/healthz, http://${reach}/metrics`;
    }),
  ];
}

/** How to use the dev SSH gateway, for the start-up message. */
function sshGatewayHelp(listenSsh: string | undefined): string[] {
  if (listenSsh === undefined) {
    return [];
  }
  const { host, port } = parseListen(listenSsh);
  const reach = host === '0.0.0.0' || host === '' || host === '::' ? '127.0.0.1' : host;
  const address = port === 0 ? `${reach}:<port in the controller log>` : `${reach}:${port}`;
  const portFlag = port === 0 ? '<port>' : String(port);
  return [
    `SSH gateway: ${address} (log in with a key: npx grove create ssh-key bootstrap-admin ~/.ssh/id_ed25519.pub)`,
    `  ssh -J bootstrap-admin@${address} admin@v1          # the VM's own SSH server (password admin)`,
    `  ssh -p ${portFlag} bootstrap-admin+v1@${reach} uname -a   # a command in the VM through exec`,
  ];
}

function startWorkers(
  io: CommandIo,
  options: {
    url: string;
    token: string;
    dataDir: string;
    runtime: string;
    names: string[];
    /** Each worker's `--listen-metrics`, in the order of `names`. */
    metricsListen: string[];
    main: string;
  },
): ChildProcess[] {
  if (options.names.length === 0) {
    return [];
  }
  const tokenFile = join(options.dataDir, 'dev-worker-bootstrap-token');
  writeFileSync(
    tokenFile,
    `${encodeBootstrapToken({ serviceAccountName: 'bootstrap-admin', serviceAccountToken: options.token })}\n`,
    { mode: 0o600 },
  );
  return options.names.map((name, index) => {
    const worker = spawnWorker(
      devWorkerArgs(options.main, options.url, name, {
        tokenFile,
        dataDir: options.dataDir,
        runtime: options.runtime,
        listenMetrics: options.metricsListen[index],
      }),
      name,
      io,
    );
    worker.once('exit', (code, signal) => {
      if (signal === null && code !== 0) {
        io.err(`[${name}] exited with code ${code}\n`);
      }
    });
    return worker;
  });
}

function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve(child.exitCode);
      return;
    }
    child.once('exit', (code) => resolve(code ?? 0));
    child.once('error', () => resolve(1));
  });
}
