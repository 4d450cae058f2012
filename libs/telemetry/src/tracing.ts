import type { TraceIds } from './trace-context';

/**
 * Grove's view of tracing (issue 14): what the controller and the worker need to record their spans, without naming
 * an OpenTelemetry type, so that the code that records spans loads nothing of OpenTelemetry when tracing is off (it
 * holds no `Tracing` then, and skips every span).
 */

/** Attribute values of a span; undefined values are left out. */
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

export interface SpanStart {
  /**
   * The parent: a span of this process, or a W3C `traceparent` value from another one (a tunnel frame, an HTTP
   * header). Absent or not valid: the span starts a new trace.
   */
  parent?: TraceSpan | string;
  /** `server` for a span that serves a request from another process; default `internal`. */
  kind?: 'server' | 'internal';
  attributes?: SpanAttributes;
  /** When the span began (milliseconds since the epoch); default now. For spans recorded after the fact. */
  startTime?: number;
  /**
   * The ids of a root span decided in advance (`vmStartTrace`), so that other processes can parent their spans on it
   * without being told. Only for a span without `parent`.
   */
  ids?: TraceIds;
}

export interface SpanEnd {
  /** The span failed: its status is set to error with this message. */
  error?: string;
  /** When it ended (milliseconds since the epoch); default now. */
  endTime?: number;
}

/** A span being recorded. */
export interface TraceSpan {
  /** Its W3C `traceparent`, to hand to another process whose span is to be its child. */
  readonly traceparent: string;
  setAttributes(attributes: SpanAttributes): void;
  /** Something that happened at a point in time during the span (e.g. "connected"). */
  addEvent(name: string, attributes?: SpanAttributes): void;
  /** Ends it; later calls do nothing. */
  end(outcome?: SpanEnd): void;
}

/** Starts spans of this process; exported in batches over OTLP. */
export interface Tracing {
  startSpan(name: string, options?: SpanStart): TraceSpan;
}
