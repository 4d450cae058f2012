import { readFileSync } from 'node:fs';
import { cpus, homedir, hostname, platform, totalmem } from 'node:os';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  decodeBootstrapToken,
  parseLabels,
  parseResources,
  RESOURCE_LOGICAL_CORES,
  RESOURCE_MEMORY_MIB,
  RESOURCE_TART_VMS,
  type BootstrapToken,
} from '@grove/resources';
import { readTelemetryConfig, type TelemetryConfig } from '@grove/telemetry';
import { DEFAULT_ENDPOINT_ADDRESS } from '../endpoints/vm-endpoint-set';

export interface WorkerConfig {
  controllerUrl: string;
  credentials: BootstrapToken;
  name: string;
  labels: Record<string, string>;
  resources: Record<string, number>;
  defaultCpu: number;
  defaultMemory: number;
  /** `tart` drives the Tart CLI; `synthetic` runs in-process VMs (development and tests). */
  runtime: WorkerRuntimeKind;
  /** Where the worker keeps its own state (the synthetic runtime's VMs). */
  dataDir: string;
  /** Also append log lines (JSON) to this file. */
  logFile?: string;
  /** Synthetic runtime only: how long each step takes, in milliseconds. */
  syntheticDelays: SyntheticDelays;
  /** How often the worker tells the controller it is alive; well below the controller's offline timeout. */
  heartbeatIntervalMs: number;
  /**
   * The address the listeners of VM endpoints bind (`--endpoint-address`): loopback unless the operator chooses
   * another, where Orchard listens on every interface (orchard-2026.md §1.2.2; docs/api-compatibility.md).
   */
  endpointAddress: string;
  /**
   * Whether the worker runs VMs' `hostProcesses` (orchard-2026.md §1.2.3) and registers capability `host-processes`;
   * `--no-host-processes` turns it off for hosts where nobody with `host-process:write` should run programs.
   */
  hostProcesses: boolean;
  /**
   * Where `/healthz` and `/metrics` are served (`--listen-metrics`, issue 14); undefined when turned off. `given`: the
   * address was given, so that a port in use fails the start; the default only warns then (another worker on this
   * host holds it).
   */
  metricsListen?: MetricsListen;
  /** OTLP export of metrics and traces (the standard OTEL_* variables, issue 14); undefined: nothing is exported. */
  telemetry?: TelemetryConfig;
}

/** The address of the worker's health and metrics listener. */
export interface MetricsListen {
  host: string;
  port: number;
  given: boolean;
}

/** `--listen-metrics`'s default: loopback, the port after the controller's 6120–6122. */
export const DEFAULT_LISTEN_METRICS = '127.0.0.1:6130';

/**
 * Reads `--listen-metrics`: `HOST:PORT` with an IP address (`[v6]:PORT` for IPv6; port 0 takes any free port), or
 * `off` or an empty value for no listener. Returns the address, undefined for off, or what is wrong.
 */
export function parseMetricsListen(text: string, given: boolean): MetricsListen | undefined | string {
  if (text === '' || text === 'off') {
    return undefined;
  }
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || isIP(host) === 0 || port > 65535) {
    return `--listen-metrics "${text}" must be IP:PORT (e.g. 127.0.0.1:6130, 0.0.0.0:6130 or [::1]:6130; port 0 for any free port), or off`;
  }
  return { host, port, given };
}

export const WORKER_RUNTIME_KINDS = ['tart', 'synthetic'] as const;
export type WorkerRuntimeKind = (typeof WORKER_RUNTIME_KINDS)[number];

export const SYNTHETIC_DELAY_STEPS = ['pull', 'clone', 'configure', 'boot', 'delete'] as const;
export type SyntheticDelays = Partial<Record<(typeof SYNTHETIC_DELAY_STEPS)[number], number>>;

/** Tart exists only on macOS; anywhere else the synthetic runtime is the useful default. */
export function defaultRuntime(os: NodeJS.Platform = platform()): WorkerRuntimeKind {
  return os === 'darwin' ? 'tart' : 'synthetic';
}

/** `$GROVE_HOME/worker`, else `~/.grove/worker`. */
export function defaultWorkerDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.GROVE_HOME || join(homedir(), '.grove'), 'worker');
}

/** Parses `clone=500,boot=100` (repeatable flag values) into per-step delays. */
export function parseSyntheticDelays(values: readonly string[]): SyntheticDelays {
  const delays: SyntheticDelays = {};
  for (const item of values.flatMap((v) => v.split(',')).filter((v) => v !== '')) {
    const [step, ms, ...rest] = item.split('=');
    if (!(SYNTHETIC_DELAY_STEPS as readonly string[]).includes(step) || rest.length > 0 || !/^\d+$/.test(ms ?? '')) {
      throw new Error(
        `"${item}" is not STEP=MILLISECONDS with STEP one of ${SYNTHETIC_DELAY_STEPS.join(', ')} (e.g. clone=500)`,
      );
    }
    delays[step as keyof SyntheticDelays] = Number(ms);
  }
  return delays;
}

export class WorkerConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid worker configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** `https://` and port 6120 unless given, as Orchard normalises controller addresses. */
export function normaliseControllerUrl(text: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `https://${text}`;
  const url = new URL(withScheme);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`the controller URL must use http or https, not ${url.protocol}`);
  }
  if (url.port === '') {
    url.port = '6120';
  }
  return url.toString().replace(/\/$/, '');
}

/** Resources every worker offers without being told: its cores and memory, and two macOS VM slots for Tart. */
export function automaticResources(): Record<string, number> {
  return {
    [RESOURCE_TART_VMS]: 2,
    [RESOURCE_LOGICAL_CORES]: cpus().length,
    [RESOURCE_MEMORY_MIB]: Math.floor(totalmem() / (1024 * 1024)),
  };
}

/**
 * Reads `grove worker run` flags, and the OTEL_* variables of `env`. The bootstrap token comes from exactly one of
 * `--bootstrap-token`, `--bootstrap-token-stdin` (passed as `stdinToken`) or `--bootstrap-token-file`.
 */
export function loadWorkerConfig(
  argv: string[],
  stdinToken?: () => string,
  env: NodeJS.ProcessEnv = process.env,
): WorkerConfig {
  const problems: string[] = [];
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'bootstrap-token': { type: 'string' },
        'bootstrap-token-stdin': { type: 'boolean' },
        'bootstrap-token-file': { type: 'string' },
        name: { type: 'string' },
        labels: { type: 'string', multiple: true },
        resources: { type: 'string', multiple: true },
        'default-cpu': { type: 'string' },
        'default-memory': { type: 'string' },
        runtime: { type: 'string' },
        'data-dir': { type: 'string' },
        'log-file': { type: 'string' },
        'synthetic-delays': { type: 'string', multiple: true },
        'heartbeat-interval': { type: 'string' },
        'endpoint-address': { type: 'string' },
        'no-host-processes': { type: 'boolean' },
        'listen-metrics': { type: 'string' },
      },
    });
  } catch (err) {
    throw new WorkerConfigError([(err as Error).message]);
  }
  const { values, positionals } = parsed;
  let controllerUrl = '';
  if (positionals.length !== 1) {
    problems.push('exactly one CONTROLLER_URL argument is required');
  } else {
    try {
      controllerUrl = normaliseControllerUrl(positionals[0]);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const sources = [values['bootstrap-token'], values['bootstrap-token-stdin'], values['bootstrap-token-file']].filter(
    (v) => v !== undefined && v !== false,
  );
  let credentials: BootstrapToken | undefined;
  if (sources.length !== 1) {
    problems.push(
      'give the bootstrap token with exactly one of --bootstrap-token, --bootstrap-token-stdin or --bootstrap-token-file',
    );
  } else {
    try {
      const text = values['bootstrap-token-stdin']
        ? (stdinToken?.() ?? '')
        : values['bootstrap-token-file']
          ? readFileSync(values['bootstrap-token-file'], 'utf8')
          : values['bootstrap-token']!;
      credentials = decodeBootstrapToken(text);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const integer = (flag: string, fallback: number): number => {
    const text = values[flag as 'default-cpu'];
    if (text === undefined) {
      return fallback;
    }
    if (!/^\d+$/.test(text)) {
      problems.push(`--${flag} "${text}" must be a non-negative integer`);
      return fallback;
    }
    return Number(text);
  };
  let labels: Record<string, string> = {};
  let resources: Record<string, number> = {};
  try {
    labels = parseLabels(values.labels ?? []);
  } catch (err) {
    problems.push(`--labels: ${(err as Error).message}`);
  }
  try {
    resources = { ...automaticResources(), ...parseResources(values.resources ?? []) };
  } catch (err) {
    problems.push(`--resources: ${(err as Error).message}`);
  }
  const runtime = (values.runtime ?? defaultRuntime()) as WorkerRuntimeKind;
  if (!WORKER_RUNTIME_KINDS.includes(runtime)) {
    problems.push(`--runtime "${values.runtime}" must be one of ${WORKER_RUNTIME_KINDS.join(', ')}`);
  }
  let syntheticDelays: SyntheticDelays = {};
  try {
    syntheticDelays = parseSyntheticDelays(values['synthetic-delays'] ?? []);
  } catch (err) {
    problems.push(`--synthetic-delays: ${(err as Error).message}`);
  }
  const heartbeatSeconds = integer('heartbeat-interval', 15);
  if (heartbeatSeconds === 0) {
    problems.push('--heartbeat-interval must be at least 1 second');
  }
  const endpointAddress = values['endpoint-address'] ?? DEFAULT_ENDPOINT_ADDRESS;
  if (isIP(endpointAddress) === 0) {
    problems.push(
      `--endpoint-address "${endpointAddress}" must be an IP address of this host (e.g. 127.0.0.1, 0.0.0.0 or ::)`,
    );
  }
  const metricsListen = parseMetricsListen(
    values['listen-metrics'] ?? DEFAULT_LISTEN_METRICS,
    values['listen-metrics'] !== undefined,
  );
  if (typeof metricsListen === 'string') {
    problems.push(metricsListen);
  }
  const telemetry = readTelemetryConfig(env);
  problems.push(...telemetry.problems);
  const config = {
    endpointAddress,
    metricsListen: typeof metricsListen === 'string' ? undefined : metricsListen,
    hostProcesses: values['no-host-processes'] !== true,
    heartbeatIntervalMs: heartbeatSeconds * 1000,
    runtime,
    syntheticDelays,
    dataDir: resolve(values['data-dir'] ?? defaultWorkerDataDir()),
    logFile: values['log-file'] === undefined ? undefined : resolve(values['log-file']),
    controllerUrl,
    name: values.name ?? hostname(),
    labels,
    resources,
    defaultCpu: integer('default-cpu', 4),
    defaultMemory: integer('default-memory', 8192),
    ...(telemetry.config ? { telemetry: telemetry.config } : {}),
  };
  if (problems.length > 0 || !credentials) {
    throw new WorkerConfigError(problems);
  }
  return { ...config, credentials };
}
