import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  RandomIdGenerator,
  TracerProvider,
  type IdGenerator,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { PrometheusMetricProducer } from './prometheus-producer';
import type { TelemetryOptions, Telemetry } from './telemetry';
import { formatTraceparent, parseTraceparent, type TraceIds } from './trace-context';
import type { SpanAttributes, SpanEnd, SpanStart, TraceSpan, Tracing } from './tracing';

/*
 * The OpenTelemetry SDK set up for one Grove app (issue 14). Loaded by startTelemetry only when an OTLP endpoint is
 * configured. Nothing is registered globally (no global tracer or meter provider, no context manager): several apps
 * may run in one process (tests), and spans are parented explicitly, never through async context, so that tracing
 * adds no per-callback cost.
 */

/** Random ids, except for the one root span that asks for ids decided in advance (`SpanStart.ids`). */
class GroveIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private forced: TraceIds | undefined;

  /** Runs `start` (which must create exactly one root span, synchronously) with `ids` as its ids. */
  with<T>(ids: TraceIds, start: () => T): T {
    this.forced = ids;
    try {
      return start();
    } finally {
      this.forced = undefined;
    }
  }

  generateTraceId(): string {
    return this.forced?.traceId ?? this.random.generateTraceId();
  }

  generateSpanId(): string {
    return this.forced?.spanId ?? this.random.generateSpanId();
  }
}

function attributesOf(attributes: SpanAttributes | undefined): Attributes | undefined {
  if (!attributes) {
    return undefined;
  }
  const defined: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) {
      defined[key] = value;
    }
  }
  return defined;
}

class OtelSpan implements TraceSpan {
  private ended = false;

  constructor(readonly span: Span) {}

  get traceparent(): string {
    const context = this.span.spanContext();
    return formatTraceparent({
      traceId: context.traceId,
      spanId: context.spanId,
      sampled: (context.traceFlags & TraceFlags.SAMPLED) !== 0,
    });
  }

  setAttributes(attributes: SpanAttributes): void {
    this.span.setAttributes(attributesOf(attributes) ?? {});
  }

  addEvent(name: string, attributes?: SpanAttributes): void {
    this.span.addEvent(name, attributesOf(attributes));
  }

  end(outcome: SpanEnd = {}): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    if (outcome.error !== undefined) {
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error });
    }
    this.span.end(outcome.endTime);
  }
}

function parentContext(parent: TraceSpan | string | undefined): Context {
  if (parent instanceof OtelSpan) {
    return trace.setSpan(ROOT_CONTEXT, parent.span);
  }
  const ids = typeof parent === 'string' ? parseTraceparent(parent) : undefined;
  if (!ids) {
    return ROOT_CONTEXT;
  }
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: ids.traceId,
    spanId: ids.spanId,
    traceFlags: ids.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });
}

class OtelTracing implements Tracing {
  constructor(
    private readonly tracer: Tracer,
    private readonly ids: GroveIdGenerator,
  ) {}

  startSpan(name: string, options: SpanStart = {}): TraceSpan {
    const start = () =>
      this.tracer.startSpan(
        name,
        {
          kind: options.kind === 'server' ? SpanKind.SERVER : SpanKind.INTERNAL,
          attributes: attributesOf(options.attributes),
          startTime: options.startTime,
        },
        parentContext(options.parent),
      );
    return new OtelSpan(options.ids && options.parent === undefined ? this.ids.with(options.ids, start) : start());
  }
}

/** What an exporter's `export` reports (the SDK's ExportResult: code 0 is success, 1 failure). */
interface ExportResult {
  code: number;
  error?: Error;
}

interface Exporting<I> {
  export(items: I, done: (result: ExportResult) => void): void;
}

/** Makes an exporter tell the app's log when exports start failing and when they work again (once each). */
function reportFailures<I>(exporter: Exporting<I>, what: string, url: string, log: TelemetryOptions['log']): void {
  const original = exporter.export.bind(exporter);
  let failing = false;
  exporter.export = (items, done) =>
    original(items, (result) => {
      if (result.code !== 0 && !failing) {
        failing = true;
        log(`OpenTelemetry: exporting ${what} to ${url} failed: ${result.error?.message ?? 'unknown error'}`, 'warn');
      } else if (result.code === 0 && failing) {
        failing = false;
        log(`OpenTelemetry: exporting ${what} to ${url} works again`, 'info');
      }
      done(result);
    });
}

function resourceOf(options: TelemetryOptions): Resource {
  const { config } = options;
  return defaultResource().merge(
    resourceFromAttributes({
      'service.name': options.serviceName,
      ...(options.serviceVersion ? { 'service.version': options.serviceVersion } : {}),
      ...options.resourceAttributes,
      ...config.resourceAttributes,
      ...(config.serviceName ? { 'service.name': config.serviceName } : {}),
    }),
  );
}

/** Starts the SDK as `options.config` says; see startTelemetry. */
export function startOtel(options: TelemetryOptions): Telemetry {
  const { config, log } = options;
  const resource = resourceOf(options);
  const scope = { name: options.serviceName, ...(options.serviceVersion ? { version: options.serviceVersion } : {}) };
  let meterProvider: MeterProvider | undefined;
  if (config.metrics) {
    const { url, protocol } = config.metrics;
    const exporter = protocol === 'http/json' ? new JsonMetricExporter({ url }) : new ProtobufMetricExporter({ url });
    reportFailures(exporter, 'metrics', url, log);
    meterProvider = new MeterProvider({
      resource,
      readers: [
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: config.metrics.intervalMs,
          exportTimeoutMillis: config.metrics.timeoutMs,
          metricProducers: [new PrometheusMetricProducer(options.metrics, resource, scope)],
        }),
      ],
    });
  }
  let tracerProvider: TracerProvider | undefined;
  let tracing: Tracing | undefined;
  if (config.traces) {
    const { url, protocol } = config.traces;
    const exporter: SpanExporter =
      protocol === 'http/json' ? new JsonTraceExporter({ url }) : new ProtobufTraceExporter({ url });
    reportFailures(exporter, 'traces', url, log);
    const ids = new GroveIdGenerator();
    tracerProvider = new TracerProvider({
      resource,
      idGenerator: ids,
      spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: config.traces.scheduleDelayMs })],
    });
    tracing = new OtelTracing(tracerProvider.getTracer(scope.name, scope.version), ids);
  }
  const targets = [
    config.metrics &&
      `metrics (${config.metrics.protocol}, every ${config.metrics.intervalMs / 1000} s) to ${config.metrics.url}`,
    config.traces && `traces (${config.traces.protocol}) to ${config.traces.url}`,
  ].filter(Boolean);
  log(
    `OpenTelemetry: exporting ${targets.join(' and ')} as service ${String(resource.attributes['service.name'])}`,
    'info',
  );
  return {
    tracing,
    // The last export of metrics happens while the app's metrics still exist; spans keep coming until sessions end.
    stopMetrics: () => meterProvider?.shutdown() ?? Promise.resolve(),
    stopTraces: () => tracerProvider?.shutdown() ?? Promise.resolve(),
  };
}
