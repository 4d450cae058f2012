import { ZERO_TIME } from '@grove/resources';
import { MetricsRegistry } from './metrics-registry';
import { SchedulingMetrics } from './scheduling-metrics';
import { SessionMetrics, tunnelSessionKind } from './session-metrics';

/** The value of a metric's sample with exactly these labels (`_count`, `_sum` of histograms by their suffix). */
async function sample(metrics: MetricsRegistry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const base = name.replace(/_(count|sum)$/, '');
  const metric = metrics.registry.getSingleMetric(base);
  if (!metric) {
    throw new Error(`no metric ${base}`);
  }
  const { values } = await metric.get();
  const found = values.filter(
    (v) =>
      (v as { metricName?: string }).metricName === (name === base ? undefined : name) &&
      JSON.stringify(Object.entries(v.labels).sort()) === JSON.stringify(Object.entries(labels).sort()),
  );
  return found.length === 0 ? Number.NaN : found[0].value;
}

describe('session metrics', () => {
  it('names tunnels to 22 ssh and to 5900 vnc, everything else port-forward', () => {
    expect([22, 5900, 8080, 0, undefined].map(tunnelSessionKind)).toEqual([
      'ssh',
      'vnc',
      'port-forward',
      'port-forward',
      'port-forward',
    ]);
  });

  it('counts a session once however often its end is reported, with its bytes', async () => {
    const metrics = new MetricsRegistry();
    const sessions = new SessionMetrics(metrics);
    const end = sessions.started('vnc', performance.now());
    expect(await sessions.activeByKind()).toEqual({ 'port-forward': 0, exec: 0, ssh: 0, vnc: 1 });
    end('error', { toTarget: 10, fromTarget: 2000 });
    end('ok', { toTarget: 10, fromTarget: 2000 });
    sessions.refused('vnc');
    expect(await sessions.activeByKind()).toEqual({ 'port-forward': 0, exec: 0, ssh: 0, vnc: 0 });
    expect(await sample(metrics, 'grove_sessions_total', { kind: 'vnc', result: 'error' })).toBe(1);
    expect(await sample(metrics, 'grove_sessions_total', { kind: 'vnc', result: 'ok' })).toBe(0);
    expect(await sample(metrics, 'grove_sessions_total', { kind: 'vnc', result: 'refused' })).toBe(1);
    expect(await sample(metrics, 'grove_session_bytes_total', { kind: 'vnc', direction: 'from-target' })).toBe(2000);
    expect(await sample(metrics, 'grove_session_setup_seconds_count', { kind: 'vnc' })).toBe(1);
  });
});

describe('scheduling metrics', () => {
  const now = new Date('2026-12-05T12:00:10Z');

  it('measures the wait from creation, or from the last restart', async () => {
    const metrics = new MetricsRegistry();
    const scheduling = new SchedulingMetrics(metrics);
    scheduling.placed(
      [
        { createdAt: '2026-12-05T12:00:00Z', restarted_at: ZERO_TIME },
        { createdAt: '2026-12-05T11:00:00Z', restarted_at: '2026-12-05T12:00:08Z' },
      ],
      now,
    );
    expect(await sample(metrics, 'grove_scheduling_delay_seconds_count')).toBe(2);
    expect(await sample(metrics, 'grove_scheduling_delay_seconds_sum')).toBe(12);
  });

  it('counts a VM start only when a report sets started_at, from its placement, never below zero', async () => {
    const metrics = new MetricsRegistry();
    const scheduling = new SchedulingMetrics(metrics);
    const placed = { worker: 'mac-1', scheduled_at: '2026-12-05T12:00:00Z' };
    scheduling.stateReported({ started_at: ZERO_TIME }, { ...placed, started_at: ZERO_TIME });
    scheduling.stateReported({ started_at: ZERO_TIME }, { ...placed, started_at: '2026-12-05T12:00:04Z' });
    scheduling.stateReported({ started_at: '2026-12-05T12:00:04Z' }, { ...placed, started_at: '2026-12-05T12:00:04Z' });
    // Another replica's clock, a little behind the leader's.
    scheduling.stateReported({ started_at: ZERO_TIME }, { ...placed, started_at: '2026-12-05T11:59:59Z' });
    expect(await sample(metrics, 'grove_vm_start_seconds_count', { worker: 'mac-1' })).toBe(2);
    expect(await sample(metrics, 'grove_vm_start_seconds_sum', { worker: 'mac-1' })).toBe(4);
  });
});
