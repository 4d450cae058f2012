import type { Registry } from 'prom-client';
import type * as OtelSdk from './otel-sdk';
import type { TelemetryConfig } from './telemetry-config';
import type { Tracing } from './tracing';

/** What a Grove app gives to start its OTLP export (issue 14). */
export interface TelemetryOptions {
  config: TelemetryConfig;
  /** `service.name` unless `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) says otherwise. */
  serviceName: string;
  serviceVersion?: string;
  /** This process among its kind: `service.instance.id` and Grove's own (`grove.replica.name`, `grove.worker.name`). */
  resourceAttributes: Record<string, string>;
  /** The app's Prometheus registry, read at every metrics export: the same series as its /metrics. */
  metrics: () => Registry;
  /** Where the start, export failures (a warning, once per run of failures) and recoveries are told. */
  log: (line: string, level: 'info' | 'warn') => void;
}

/** A running OTLP export. */
export interface Telemetry {
  /** Undefined when traces are not exported: no span is then created anywhere. */
  tracing: Tracing | undefined;
  /** Exports the metrics one last time and stops. */
  stopMetrics(): Promise<void>;
  /** Exports the spans still queued and stops. */
  stopTraces(): Promise<void>;
}

/**
 * Starts exporting as `config` says, or does nothing and returns undefined when `config` is undefined (no endpoint
 * configured). The OpenTelemetry SDK and exporters are loaded here, on first use, so that a process that does not
 * export never loads them (prom-client loads `@opentelemetry/api` in any case, for exemplars).
 */
export function startTelemetry(
  options: Omit<TelemetryOptions, 'config'> & { config?: TelemetryConfig },
): Telemetry | undefined {
  const { config } = options;
  if (!config) {
    return undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when exporting; an import would load the SDK into every process
  const sdk = require('./otel-sdk') as typeof OtelSdk;
  return sdk.startOtel({ ...options, config });
}

/** Runs `stop` for at most `ms`: an unreachable collector must not hold up a shutdown. */
export async function stopWithin(stop: () => Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    stop().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}
