/**
 * OTLP export settings of a Grove process (issue 14), read from the standard OpenTelemetry environment variables
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). Export is off unless an OTLP
 * endpoint is given: no variable set means no OpenTelemetry code loaded at all.
 */

/** How data is sent: OTLP over HTTP as protobuf (the specification's default) or as JSON. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface OtlpTarget {
  /** The full URL data is POSTed to (`…/v1/metrics`, `…/v1/traces`). */
  url: string;
  protocol: OtlpProtocol;
}

export interface TelemetryConfig {
  /** `OTEL_SERVICE_NAME`; absent: the process's default (`grove-controller`, `grove-worker`). */
  serviceName?: string;
  /** `OTEL_RESOURCE_ATTRIBUTES`, decoded. */
  resourceAttributes: Record<string, string>;
  /** Metrics export, when on: every `OTEL_METRIC_EXPORT_INTERVAL` ms, giving up after `timeoutMs`. */
  metrics?: OtlpTarget & { intervalMs: number; timeoutMs: number };
  /** Trace export, when on: finished spans are sent in batches every `scheduleDelayMs` (`OTEL_BSP_SCHEDULE_DELAY`). */
  traces?: OtlpTarget & { scheduleDelayMs: number };
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60_000;
const DEFAULT_METRIC_EXPORT_TIMEOUT_MS = 30_000;
const DEFAULT_BSP_SCHEDULE_DELAY_MS = 5_000;

/** A variable's value; the specification treats an empty value as unset. */
function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

function readUrl(env: Env, name: string, problems: string[]): string | undefined {
  const text = read(env, name);
  if (text === undefined) {
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.push(`${name} "${text}" is not a URL (e.g. http://127.0.0.1:4318)`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${name} "${text}" must be an http:// or https:// URL (OTLP over HTTP)`);
    return undefined;
  }
  return text;
}

function readProtocol(env: Env, names: string[], problems: string[]): OtlpProtocol {
  for (const name of names) {
    const text = read(env, name);
    if (text === undefined) {
      continue;
    }
    if (text === 'http/protobuf' || text === 'http/json') {
      return text;
    }
    problems.push(
      `${name} "${text}" is not supported: use http/protobuf (the default) or http/json` +
        (text === 'grpc' ? ' (Grove exports OTLP over HTTP only)' : ''),
    );
    break;
  }
  return 'http/protobuf';
}

function readMillis(env: Env, name: string, fallback: number, problems: string[]): number {
  const text = read(env, name);
  if (text === undefined) {
    return fallback;
  }
  if (!/^\d+$/.test(text) || Number(text) === 0) {
    problems.push(`${name} "${text}" must be a positive number of milliseconds`);
    return fallback;
  }
  return Number(text);
}

/** Whether a signal's exporter is on: `otlp` (the default) or `none`. */
function exporterOn(env: Env, name: string, problems: string[]): boolean {
  const text = read(env, name);
  if (text === undefined || text === 'otlp') {
    return true;
  }
  if (text === 'none') {
    return false;
  }
  problems.push(`${name} "${text}" is not supported: use otlp or none`);
  return false;
}

/**
 * The URL of one signal: its own endpoint variable as given, else the general endpoint with `/v1/<signal>` appended
 * (as the specification says), else none.
 */
function signalUrl(env: Env, signal: 'metrics' | 'traces', problems: string[]): string | undefined {
  const own = readUrl(env, `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`, problems);
  if (own !== undefined) {
    return own;
  }
  const base = readUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', problems);
  return base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/${signal}`;
}

/** `key1=value1,key2=value2`, values percent-encoded (W3C Baggage octets). */
function readResourceAttributes(env: Env, problems: string[]): Record<string, string> {
  const text = read(env, 'OTEL_RESOURCE_ATTRIBUTES');
  const attributes: Record<string, string> = {};
  if (text === undefined) {
    return attributes;
  }
  for (const item of text.split(',')) {
    const at = item.indexOf('=');
    const key = at > 0 ? item.slice(0, at).trim() : '';
    if (key === '') {
      problems.push(`OTEL_RESOURCE_ATTRIBUTES: "${item.trim()}" is not key=value`);
      continue;
    }
    try {
      attributes[key] = decodeURIComponent(item.slice(at + 1).trim());
    } catch {
      problems.push(`OTEL_RESOURCE_ATTRIBUTES: the value of "${key}" is not valid percent-encoding`);
    }
  }
  return attributes;
}

/**
 * Reads the OTLP export settings from `env`. Returns the settings (undefined when nothing is to be exported: no
 * endpoint, `OTEL_SDK_DISABLED=true`, or both exporters `none`) and every problem found, each naming its variable.
 */
export function readTelemetryConfig(env: Env): { config: TelemetryConfig | undefined; problems: string[] } {
  const problems: string[] = [];
  if (read(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') {
    return { config: undefined, problems };
  }
  const metricsUrl = exporterOn(env, 'OTEL_METRICS_EXPORTER', problems)
    ? signalUrl(env, 'metrics', problems)
    : undefined;
  const tracesUrl = exporterOn(env, 'OTEL_TRACES_EXPORTER', problems) ? signalUrl(env, 'traces', problems) : undefined;
  const config: TelemetryConfig = { resourceAttributes: readResourceAttributes(env, problems) };
  const serviceName = read(env, 'OTEL_SERVICE_NAME');
  if (serviceName !== undefined) {
    config.serviceName = serviceName;
  }
  if (metricsUrl !== undefined) {
    const intervalMs = readMillis(env, 'OTEL_METRIC_EXPORT_INTERVAL', DEFAULT_METRIC_EXPORT_INTERVAL_MS, problems);
    const timeoutGiven = read(env, 'OTEL_METRIC_EXPORT_TIMEOUT') !== undefined;
    const timeoutMs = readMillis(env, 'OTEL_METRIC_EXPORT_TIMEOUT', DEFAULT_METRIC_EXPORT_TIMEOUT_MS, problems);
    if (timeoutGiven && timeoutMs > intervalMs) {
      problems.push(
        `OTEL_METRIC_EXPORT_TIMEOUT (${timeoutMs} ms) must not be longer than OTEL_METRIC_EXPORT_INTERVAL (${intervalMs} ms)`,
      );
    }
    config.metrics = {
      url: metricsUrl,
      protocol: readProtocol(env, ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'], problems),
      intervalMs,
      // An export may not outlast the interval (the SDK refuses that); the default timeout shrinks with a short one.
      timeoutMs: Math.min(timeoutMs, intervalMs),
    };
  }
  if (tracesUrl !== undefined) {
    config.traces = {
      url: tracesUrl,
      protocol: readProtocol(env, ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'], problems),
      scheduleDelayMs: readMillis(env, 'OTEL_BSP_SCHEDULE_DELAY', DEFAULT_BSP_SCHEDULE_DELAY_MS, problems),
    };
  }
  return { config: config.metrics || config.traces ? config : undefined, problems };
}
