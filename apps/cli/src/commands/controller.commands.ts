import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CliError, UsageError } from '../cli.errors';
import { groveHome } from '../config/config-file';
import type { CommandIo } from './io';

export interface ControllerRunOptions {
  listen: string;
  listenGrpc?: string;
  listenSsh?: string;
  sshHostKey?: string;
  dataDir?: string;
  insecureNoTls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  swaggerUi?: boolean;
  /** Serve `/metrics` without credentials. */
  metricsPublic?: boolean;
  logFormat?: string;
  workerOfflineTimeout?: string;
  execSessionRetentionTtl?: string;
  replicaName?: string;
  relayAddress?: string;
  advertiseGrpcPort?: string;
  shutdownGrace?: string;
  workerPingInterval?: string;
  consoleDir?: string;
}

/** Flags passed on to the controller as they are, when given. */
const PASSED_ON: [keyof ControllerRunOptions, string][] = [
  ['replicaName', '--replica-name'],
  ['relayAddress', '--relay-address'],
  ['advertiseGrpcPort', '--advertise-grpc-port'],
  ['shutdownGrace', '--shutdown-grace'],
  ['workerPingInterval', '--worker-ping-interval'],
  ['consoleDir', '--console-dir'],
];

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
  if (options.listenSsh !== undefined) {
    args.push('--listen-ssh', options.listenSsh);
  }
  if (options.sshHostKey !== undefined) {
    args.push('--ssh-host-key', options.sshHostKey);
  }
  if (options.insecureNoTls) {
    args.push('--insecure-no-tls');
  }
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    args.push('--tls-cert', options.tlsCert, '--tls-key', options.tlsKey);
  }
  if (options.swaggerUi) {
    args.push('--swagger-ui');
  }
  if (options.metricsPublic) {
    args.push('--metrics-public');
  }
  if (options.logFormat !== undefined) {
    args.push('--log-format', options.logFormat);
  }
  if (options.workerOfflineTimeout !== undefined) {
    args.push('--worker-offline-timeout', options.workerOfflineTimeout);
  }
  if (options.execSessionRetentionTtl !== undefined) {
    args.push('--exec-session-retention-ttl', options.execSessionRetentionTtl);
  }
  for (const [key, flag] of PASSED_ON) {
    const value = options[key];
    if (typeof value === 'string') {
      args.push(flag, value);
    }
  }
  return args;
}

/** The entry script of a Grove server package (`controller` or `worker`), which runs as a separate process. */
export function serverMain(pkg: 'controller' | 'worker'): string {
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

export function controllerMain(): string {
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
  runtime?: string;
  dataDir?: string;
  logFile?: string;
  heartbeatInterval?: string;
  syntheticDelays?: string[];
  endpointAddress?: string;
  /** False with `--no-host-processes` (commander's negatable option; true otherwise). */
  hostProcesses?: boolean;
  /** `--listen-metrics HOST:PORT|off`; absent: the worker's default (127.0.0.1:6130, a warning when taken). */
  listenMetrics?: string;
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
    ['--runtime', options.runtime],
    ['--data-dir', options.dataDir],
    ['--log-file', options.logFile],
    ['--heartbeat-interval', options.heartbeatInterval],
    ['--endpoint-address', options.endpointAddress],
    ['--listen-metrics', options.listenMetrics],
  ];
  for (const [flag, value] of single) {
    if (value !== undefined) {
      args.push(flag, value);
    }
  }
  if (options.bootstrapTokenStdin) {
    args.push('--bootstrap-token-stdin');
  }
  if (options.hostProcesses === false) {
    args.push('--no-host-processes');
  }
  for (const label of options.labels ?? []) {
    args.push('--labels', label);
  }
  for (const resource of options.resources ?? []) {
    args.push('--resources', resource);
  }
  for (const delays of options.syntheticDelays ?? []) {
    args.push('--synthetic-delays', delays);
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
export function spawnController(
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; exit: Promise<number> } {
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

export function parseListen(text: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(text);
  if (!match || Number(match[2]) > 65535) {
    throw new UsageError(`--listen "${text}" is not of the form HOST:PORT`);
  }
  return { host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}
