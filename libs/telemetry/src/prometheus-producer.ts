import { ValueType, type HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricDescriptor,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { Registry } from 'prom-client';

/*
 * The bridge from prom-client to OpenTelemetry (issue 14). A process's Prometheus registry stays the one source of
 * truth: at each OTLP export, the registry is read as a scrape would read it and its series become OpenTelemetry data
 * points, name for name and label for attribute. So /metrics and OTLP always say the same, nothing is recorded twice on
 * the hot paths, and with export off nothing of this runs. Prometheus counters and histograms are cumulative since the
 * process (or app) started, and so are the sums and histograms exported here.
 */

type PromMetric = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];
type PromValue = PromMetric['values'][number] & { metricName?: string };
type Labels = Record<string, string | number | undefined>;

function hrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}

/** OpenTelemetry's unit of a Prometheus name, from its unit suffix (`_seconds`, `_bytes`, before `_total`). */
export function unitOf(name: string): string {
  const base = name.replace(/_total$/, '');
  return base.endsWith('_seconds') ? 's' : base.endsWith('_bytes') ? 'By' : '';
}

function attributesOf(labels: Labels, without?: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (key !== without && value !== undefined) {
      attributes[key] = String(value);
    }
  }
  return attributes;
}

/** A label set's identity (its values in key order), with `le` left out for the series of one histogram. */
function seriesKey(labels: Labels): string {
  return JSON.stringify(
    Object.keys(labels)
      .filter((key) => key !== 'le')
      .sort()
      .map((key) => [key, String(labels[key])]),
  );
}

interface HistogramSeries {
  attributes: Record<string, string>;
  /** Upper bound → cumulative count, as Prometheus gives them (`+Inf` as Infinity). */
  buckets: [number, number][];
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram's series as OpenTelemetry histograms: explicit bounds are the finite `le` values, and the
 * counts per bucket are the differences of Prometheus's cumulative ones (the last bucket is above the last bound).
 */
function histogramPoints(metric: PromMetric, startTime: HrTime, endTime: HrTime): DataPoint<Histogram>[] {
  const series = new Map<string, HistogramSeries>();
  for (const value of metric.values as PromValue[]) {
    const labels = value.labels as Labels;
    const key = seriesKey(labels);
    let entry = series.get(key);
    if (!entry) {
      entry = { attributes: attributesOf(labels, 'le'), buckets: [], sum: 0, count: 0 };
      series.set(key, entry);
    }
    const suffix = value.metricName?.slice(metric.name.length);
    if (suffix === '_bucket') {
      entry.buckets.push([labels.le === '+Inf' ? Infinity : Number(labels.le), value.value]);
    } else if (suffix === '_sum') {
      entry.sum = value.value;
    } else if (suffix === '_count') {
      entry.count = value.value;
    }
  }
  return [...series.values()].map((entry) => {
    const buckets = entry.buckets.sort((a, b) => a[0] - b[0]);
    const boundaries = buckets.filter(([bound]) => Number.isFinite(bound)).map(([bound]) => bound);
    const counts: number[] = [];
    let below = 0;
    for (const bound of boundaries) {
      const cumulative = buckets.find(([b]) => b === bound)![1];
      counts.push(cumulative - below);
      below = cumulative;
    }
    counts.push(entry.count - below);
    return {
      startTime,
      endTime,
      attributes: entry.attributes,
      value: { buckets: { boundaries, counts }, sum: entry.sum, count: entry.count },
    };
  });
}

/** One Prometheus metric as OpenTelemetry metric data; undefined for a summary (Grove has none). */
export function toMetricData(metric: PromMetric, startTime: HrTime, endTime: HrTime): MetricData | undefined {
  const descriptor: MetricDescriptor = {
    name: metric.name,
    description: metric.help,
    unit: unitOf(metric.name),
    valueType: ValueType.DOUBLE,
  };
  const points = (): DataPoint<number>[] =>
    metric.values.map((value) => ({
      startTime,
      endTime,
      attributes: attributesOf(value.labels as Labels),
      value: value.value,
    }));
  // prom-client's typings call the type an enum; at run time it is the name.
  switch (metric.type as unknown as string) {
    case 'counter':
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: points(),
      };
    case 'gauge':
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.GAUGE,
        dataPoints: points(),
      };
    case 'histogram':
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: histogramPoints(metric, startTime, endTime),
      };
    default:
      return undefined;
  }
}

/**
 * A MetricProducer that reads a prom-client registry at every collection (`registry` is asked anew each time: a
 * controller merges its app's registry with the process's one per scrape).
 */
export class PrometheusMetricProducer implements MetricProducer {
  /** Cumulative series count from here: the registry was created with the app, moments before. */
  private readonly startTime = hrTime(Date.now());

  constructor(
    private readonly registry: () => Registry,
    private readonly resource: Resource,
    private readonly scope: { name: string; version?: string },
  ) {}

  async collect(): Promise<CollectionResult> {
    const errors: unknown[] = [];
    let metrics: MetricData[] = [];
    try {
      const json = await this.registry().getMetricsAsJSON();
      const endTime = hrTime(Date.now());
      metrics = json
        .map((metric) => toMetricData(metric, this.startTime, endTime))
        .filter((m): m is MetricData => m !== undefined && m.dataPoints.length > 0);
    } catch (err) {
      // A collector that failed (the database unreachable for the fleet gauges): that export goes without them.
      errors.push(err);
    }
    return {
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: this.scope, metrics }] },
      errors,
    };
  }
}
