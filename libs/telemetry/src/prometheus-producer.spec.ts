import { resourceFromAttributes } from '@opentelemetry/resources';
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PrometheusMetricProducer, unitOf } from './prometheus-producer';

async function collect(registry: Registry): Promise<Map<string, MetricData>> {
  const producer = new PrometheusMetricProducer(() => registry, resourceFromAttributes({}), { name: 'test' });
  const { resourceMetrics, errors } = await producer.collect();
  expect(errors).toEqual([]);
  return new Map(resourceMetrics.scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m]));
}

describe('PrometheusMetricProducer', () => {
  it('exports counters, gauges and histograms under their Prometheus names, labels as attributes', async () => {
    const registry = new Registry();
    const registers = [registry];
    const sessions = new Counter({
      name: 'grove_sessions_total',
      help: 'h',
      labelNames: ['kind', 'result'],
      registers,
    });
    const vms = new Gauge({ name: 'grove_vms', help: 'VMs', labelNames: ['status', 'worker'], registers });
    const steps = new Histogram({
      name: 'grove_worker_vm_step_seconds',
      help: 'steps',
      labelNames: ['step'],
      buckets: [1, 5, 10],
      registers,
    });
    sessions.inc({ kind: 'exec', result: 'ok' }, 2);
    vms.set({ status: 'running', worker: 'w1' }, 3);
    for (const seconds of [0.5, 2, 3, 7, 60]) {
      steps.observe({ step: 'clone' }, seconds);
    }
    steps.observe({ step: 'boot' }, 4);

    const metrics = await collect(registry);

    const counter = metrics.get('grove_sessions_total')!;
    expect(counter.dataPointType).toBe(DataPointType.SUM);
    expect(counter.dataPointType === DataPointType.SUM && counter.isMonotonic).toBe(true);
    expect(counter.dataPoints).toEqual([
      expect.objectContaining({ attributes: { kind: 'exec', result: 'ok' }, value: 2 }),
    ]);
    const gauge = metrics.get('grove_vms')!;
    expect(gauge.dataPointType).toBe(DataPointType.GAUGE);
    expect(gauge.descriptor.description).toBe('VMs');
    expect(gauge.dataPoints).toEqual([
      expect.objectContaining({ attributes: { status: 'running', worker: 'w1' }, value: 3 }),
    ]);
    const histogram = metrics.get('grove_worker_vm_step_seconds')!;
    expect(histogram.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(histogram.descriptor.unit).toBe('s');
    // Prometheus counts cumulatively (le 1: 1, le 5: 3, le 10: 4, +Inf: 5); OpenTelemetry per bucket.
    expect(histogram.dataPoints).toEqual([
      expect.objectContaining({
        attributes: { step: 'clone' },
        value: { buckets: { boundaries: [1, 5, 10], counts: [1, 2, 1, 1] }, sum: 72.5, count: 5 },
      }),
      expect.objectContaining({
        attributes: { step: 'boot' },
        value: { buckets: { boundaries: [1, 5, 10], counts: [0, 1, 0, 0] }, sum: 4, count: 1 },
      }),
    ]);
  });

  it('reads the registry anew at each collection and leaves out metrics without series', async () => {
    const registry = new Registry();
    const counter = new Counter({ name: 'grove_x_total', help: 'x', labelNames: ['a'], registers: [registry] });
    expect((await collect(registry)).has('grove_x_total')).toBe(false);
    counter.inc({ a: 'b' });
    counter.inc({ a: 'b' });
    expect((await collect(registry)).get('grove_x_total')?.dataPoints[0].value).toBe(2);
  });

  it('reports a collector that fails as an error of that collection', async () => {
    const registry = new Registry();
    new Gauge({
      name: 'grove_fleet',
      help: 'x',
      registers: [registry],
      collect() {
        throw new Error('the database is unreachable');
      },
    });
    const producer = new PrometheusMetricProducer(() => registry, resourceFromAttributes({}), { name: 'test' });
    const { errors } = await producer.collect();
    expect(errors).toEqual([new Error('the database is unreachable')]);
  });

  it('names units by the Prometheus suffixes', () => {
    expect(unitOf('grove_session_bytes_total')).toBe('By');
    expect(unitOf('process_cpu_seconds_total')).toBe('s');
    expect(unitOf('grove_vms')).toBe('');
  });
});
