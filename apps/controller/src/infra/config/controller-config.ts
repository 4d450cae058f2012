import { randomBytes } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readTelemetryConfig, type TelemetryConfig } from '@grove/telemetry';

/** Everything the controller needs to start, read once from argv and the environment and validated. */
export interface ControllerConfig {
  listenHost: string;
  listenPort: number;
  /** Where workers' gRPC sessions connect (its own port: HTTP/2 beside Fastify's HTTP/1.1); undefined turns it off. */
  grpcListen?: { host: string; port: number };
  dataDir: string;
  /** Where the SSH gateway (`ssh -J`, docs/ssh-gateway.md) listens; undefined turns it off (the default). */
  sshListen?: { host: string; port: number };
  /** The SSH gateway's host private key; absent: an ed25519 key generated once and kept in the data dir. */
  sshHostKeyFile?: string;
  /** Serve plain HTTP. Named after its risk, as the CLI flag is. */
  insecureNoTls: boolean;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** A Postgres URL; absent means the embedded PGlite database in `<dataDir>/db`. */
  databaseUrl?: string;
  /** When set, `bootstrap-admin` exists with this token on every start. */
  bootstrapAdminToken?: string;
  /** Source revision of this build (`GROVE_COMMIT`), shown by `GET /v1/controller/info`. */
  commit: string;
  /** Serve Swagger UI at /v1/docs. */
  swaggerUi: boolean;
  /**
   * Serve `GET /metrics` without credentials (`--metrics-public`), for a Prometheus that cannot send HTTP Basic; without
   * it the endpoint needs a service account with `admin:read`, as every other endpoint needs its role.
   */
  metricsPublic: boolean;
  /**
   * Accept every host directory a VM asks for, whatever the cluster's host-dir policies say (`grove dev
   * --insecure-allow-host-dirs`, as Orchard's `orchard dev` flag, orchard-2026.md §1.2.12). For one-machine
   * development clusters only: any VM creator can then mount any path of the worker hosts.
   */
  insecureAllowHostDirs?: boolean;
  /** JSON logs instead of human-readable ones. */
  jsonLogs: boolean;
  workerOfflineTimeoutMs: number;
  /** How often the controller and workers ping each other on a session; three missed pings end it. */
  workerPingIntervalMs: number;
  /** Period of the scheduler's passes (it also runs at once on VM and worker changes); 0 turns it off (tests). */
  schedulerIntervalMs: number;
  /** How long a finished reconnectable exec session keeps its output for reattaching clients (Orchard: 10 min). */
  execSessionRetentionMs: number;
  /** This process's name among the replicas sharing the database (`GET /v1/controller/info`, `grove list workers`). */
  replicaName: string;
  /**
   * `HOST:PORT` where the other replicas reach this one's gRPC listener to relay sessions; absent: the listener's
   * own address, or this host's name when it listens on every interface.
   */
  relayAddress?: string;
  /** On SIGTERM, how long sessions in progress may go on before they are cut (docs/high-availability.md). */
  shutdownGraceMs: number;
  /**
   * The gRPC port workers are told to dial (`GET /v1/controller/info`) when it differs from the bound one: a load
   * balancer's or a container's published port.
   */
  advertiseGrpcPort?: number;
  /**
   * The web console's build (`--console-dir`, `GROVE_CONSOLE_DIR`), served at `/ui/`; absent: `apps/console/dist` beside
   * the controller's own build (docs/console.md).
   */
  consoleDir?: string;
  /** OTLP export of metrics and traces (the standard OTEL_* variables, issue 14); undefined: nothing is exported. */
  telemetry?: TelemetryConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid controller configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_LISTEN = '0.0.0.0:6120';
export const DEFAULT_LISTEN_GRPC = '0.0.0.0:6121';

/** Splits `HOST:PORT`, `[v6]:PORT` or `:PORT`; returns an error text instead of throwing. */
export function parseListenAddress(text: string, flag = '--listen'): { host: string; port: number } | string {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!match) {
    return `${flag} "${text}" is not of the form HOST:PORT`;
  }
  const port = Number(match[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return `${flag} "${text}": port must be between 0 and 65535`;
  }
  const host = match[1] ?? match[2];
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function parseDuration(name: string, text: string, problems: string[]): number | undefined {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text);
  if (!match) {
    problems.push(`${name} "${text}" is not a duration like 90s, 3m or 1h`);
    return undefined;
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'] ?? 1000;
  return Number(match[1]) * unit;
}

/** Grove's home directory: `$GROVE_HOME`, else `~/.grove`. */
export function groveHome(env: NodeJS.ProcessEnv): string {
  return env['GROVE_HOME'] ? resolve(env['GROVE_HOME']) : join(homedir(), '.grove');
}

/**
 * Reads the controller configuration from command-line flags (the same as `grove controller run`) and environment
 * variables. Every problem is reported at once.
 */
export function loadControllerConfig(argv: string[], env: NodeJS.ProcessEnv): ControllerConfig {
  const problems: string[] = [];
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string', short: 'l' },
        'listen-grpc': { type: 'string' },
        'listen-ssh': { type: 'string' },
        'ssh-host-key': { type: 'string' },
        'data-dir': { type: 'string' },
        'insecure-no-tls': { type: 'boolean' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'swagger-ui': { type: 'boolean' },
        'metrics-public': { type: 'boolean' },
        'insecure-allow-host-dirs': { type: 'boolean' },
        'log-format': { type: 'string' },
        'worker-offline-timeout': { type: 'string' },
        'worker-ping-interval': { type: 'string' },
        'exec-session-retention-ttl': { type: 'string' },
        'replica-name': { type: 'string' },
        'relay-address': { type: 'string' },
        'shutdown-grace': { type: 'string' },
        'advertise-grpc-port': { type: 'string' },
        'console-dir': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }

  const listen = parseListenAddress((values['listen'] as string | undefined) ?? DEFAULT_LISTEN);
  if (typeof listen === 'string') {
    problems.push(listen);
  }
  const grpcText = (values['listen-grpc'] as string | undefined) ?? DEFAULT_LISTEN_GRPC;
  const grpcListen = grpcText === 'off' ? undefined : parseListenAddress(grpcText, '--listen-grpc');
  if (typeof grpcListen === 'string') {
    problems.push(grpcListen);
  }
  const sshText = values['listen-ssh'] as string | undefined;
  const sshListen = sshText === undefined ? undefined : parseListenAddress(sshText, '--listen-ssh');
  if (typeof sshListen === 'string') {
    problems.push(sshListen);
  }
  const sshHostKeyFlag = values['ssh-host-key'] as string | undefined;
  if (sshHostKeyFlag !== undefined && sshText === undefined) {
    problems.push('--ssh-host-key needs --listen-ssh (the SSH gateway is off without it)');
  }
  if (sshHostKeyFlag === '') {
    problems.push('--ssh-host-key must name a file');
  }
  const dataDirFlag = values['data-dir'] as string | undefined;
  const dataDir = dataDirFlag
    ? isAbsolute(dataDirFlag)
      ? dataDirFlag
      : resolve(dataDirFlag)
    : join(groveHome(env), 'controller');

  const tlsCertFile = values['tls-cert'] as string | undefined;
  const tlsKeyFile = values['tls-key'] as string | undefined;
  const insecureNoTls = values['insecure-no-tls'] === true;
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    problems.push('--tls-cert and --tls-key must be given together');
  }
  if (insecureNoTls && (tlsCertFile || tlsKeyFile)) {
    problems.push('--insecure-no-tls cannot be combined with --tls-cert/--tls-key');
  }

  const databaseUrl = env['GROVE_DATABASE_URL'] || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('GROVE_DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const bootstrapAdminToken = env['GROVE_BOOTSTRAP_ADMIN_TOKEN'] || undefined;
  if (bootstrapAdminToken !== undefined && bootstrapAdminToken.length < 8) {
    problems.push('GROVE_BOOTSTRAP_ADMIN_TOKEN must be at least 8 characters long');
  }

  const logFormat = (values['log-format'] as string | undefined) ?? env['GROVE_LOG_FORMAT'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') {
    problems.push(`--log-format "${logFormat}" must be text or json`);
  }
  const offline =
    parseDuration(
      '--worker-offline-timeout',
      (values['worker-offline-timeout'] as string | undefined) ?? '3m',
      problems,
    ) ?? 180_000;

  const workerPingIntervalMs =
    parseDuration(
      '--worker-ping-interval',
      (values['worker-ping-interval'] as string | undefined) ?? env['GROVE_WORKER_PING_INTERVAL'] ?? '10s',
      problems,
    ) ?? 10_000;
  if (workerPingIntervalMs < 200 || workerPingIntervalMs > 300_000) {
    problems.push('--worker-ping-interval must be between 200ms and 5m');
  }

  const execSessionRetentionMs =
    parseDuration(
      '--exec-session-retention-ttl',
      (values['exec-session-retention-ttl'] as string | undefined) ?? '10m',
      problems,
    ) ?? 600_000;

  const replicaName =
    (values['replica-name'] as string | undefined) ??
    env['GROVE_REPLICA_NAME'] ??
    // Unique per process: a restarted replica never inherits its predecessor's leases.
    `${
      hostname()
        .replace(/[^A-Za-z0-9._:-]/g, '-')
        .replace(/^[^A-Za-z0-9]+/, '')
        .slice(0, 50) || 'controller'
    }-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$/.test(replicaName)) {
    problems.push(`--replica-name "${replicaName}" must be 1-63 characters of [A-Za-z0-9._:-], starting alphanumeric`);
  }
  const relayText = (values['relay-address'] as string | undefined) ?? env['GROVE_RELAY_ADDRESS'];
  if (relayText !== undefined) {
    const relay = parseListenAddress(relayText, '--relay-address');
    if (typeof relay === 'string') {
      problems.push(relay);
    } else if (relay.port === 0) {
      problems.push(`--relay-address "${relayText}" needs a port other than 0`);
    }
  }
  const shutdownGraceMs =
    parseDuration('--shutdown-grace', (values['shutdown-grace'] as string | undefined) ?? '5s', problems) ?? 5_000;

  const advertiseText = (values['advertise-grpc-port'] as string | undefined) ?? env['GROVE_ADVERTISE_GRPC_PORT'];
  const advertiseGrpcPort = advertiseText === undefined ? undefined : Number(advertiseText);
  if (
    advertiseGrpcPort !== undefined &&
    (!/^\d+$/.test(advertiseText ?? '') || advertiseGrpcPort < 1 || advertiseGrpcPort > 65535)
  ) {
    problems.push(`--advertise-grpc-port "${advertiseText}" must be a port between 1 and 65535`);
  }

  const consoleDirText = (values['console-dir'] as string | undefined) ?? env['GROVE_CONSOLE_DIR'];
  if (consoleDirText === '') {
    problems.push('--console-dir must name a directory');
  }

  const telemetry = readTelemetryConfig(env);
  problems.push(...telemetry.problems);

  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  const address = listen as { host: string; port: number };
  return {
    listenHost: address.host,
    listenPort: address.port,
    grpcListen: grpcListen as { host: string; port: number } | undefined,
    dataDir,
    ...(sshListen ? { sshListen: sshListen as { host: string; port: number } } : {}),
    ...(sshHostKeyFlag ? { sshHostKeyFile: resolve(sshHostKeyFlag) } : {}),
    insecureNoTls,
    tlsCertFile,
    tlsKeyFile,
    databaseUrl,
    bootstrapAdminToken,
    commit: env['GROVE_COMMIT'] ?? '',
    swaggerUi: values['swagger-ui'] === true,
    metricsPublic: values['metrics-public'] === true,
    ...(values['insecure-allow-host-dirs'] === true ? { insecureAllowHostDirs: true } : {}),
    jsonLogs: logFormat === 'json',
    workerOfflineTimeoutMs: offline,
    workerPingIntervalMs,
    schedulerIntervalMs: 5000,
    execSessionRetentionMs,
    replicaName,
    ...(relayText !== undefined ? { relayAddress: relayText } : {}),
    shutdownGraceMs,
    ...(advertiseGrpcPort !== undefined ? { advertiseGrpcPort } : {}),
    ...(consoleDirText ? { consoleDir: resolve(consoleDirText) } : {}),
    ...(telemetry.config ? { telemetry: telemetry.config } : {}),
  };
}

/** A complete configuration with every default, for tools and tests that start the app in-process. */
export function defaultControllerConfig(overrides: Partial<ControllerConfig> = {}): ControllerConfig {
  return {
    listenHost: '127.0.0.1',
    listenPort: 0,
    dataDir: join(groveHome(process.env), 'controller'),
    insecureNoTls: true,
    commit: '',
    swaggerUi: false,
    metricsPublic: false,
    jsonLogs: false,
    workerOfflineTimeoutMs: 180_000,
    workerPingIntervalMs: 10_000,
    schedulerIntervalMs: 5000,
    execSessionRetentionMs: 600_000,
    replicaName: `test-${randomBytes(3).toString('hex')}`,
    shutdownGraceMs: 5_000,
    ...overrides,
  };
}

/** Nest injection token of the ControllerConfig. */
export const CONTROLLER_CONFIG = Symbol('CONTROLLER_CONFIG');
