/**
 * OpenTelemetry export of Grove's processes (issue 14, docs/observability.md): the settings from the standard OTEL_*
 * variables, W3C trace context between controller and worker, and the OTLP export of an app's Prometheus metrics and
 * spans. Only types and pure functions are loaded from here; the SDK is loaded by `startTelemetry` when exporting.
 */
export { readTelemetryConfig, type OtlpProtocol, type OtlpTarget, type TelemetryConfig } from './telemetry-config';
export { formatTraceparent, parseTraceparent, vmStartTrace, type TraceIds } from './trace-context';
export { startTelemetry, stopWithin, type Telemetry, type TelemetryOptions } from './telemetry';
export { ExportingApp } from './exporting-app';
export type { SpanAttributes, SpanEnd, SpanStart, TraceSpan, Tracing } from './tracing';
