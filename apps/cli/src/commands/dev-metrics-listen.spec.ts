import { devMetricsListen, devWorkerArgs } from './dev.commands';

describe('grove dev worker health and metrics addresses', () => {
  const free = () => Promise.resolve(true);

  it('gives worker N the API port + 10 + N on the API host (6130, 6131 for 6120)', async () => {
    expect(await devMetricsListen('127.0.0.1', 6120, 0, free)).toBe('127.0.0.1:6130');
    expect(await devMetricsListen('127.0.0.1', 6120, 1, free)).toBe('127.0.0.1:6131');
    expect(await devMetricsListen('::1', 7000, 2, free)).toBe('[::1]:7012');
  });

  it('takes any free port when the API port is chosen freely or the worker’s is taken, loopback for a host name', async () => {
    expect(await devMetricsListen('127.0.0.1', 0, 0, free)).toBe('127.0.0.1:0');
    expect(await devMetricsListen('127.0.0.1', 6120, 0, () => Promise.resolve(false))).toBe('127.0.0.1:0');
    expect(await devMetricsListen('localhost', 6120, 0, free)).toBe('127.0.0.1:6130');
  });

  it('passes the address to the worker', () => {
    const args = devWorkerArgs('/w/main.js', 'http://127.0.0.1:6120', 'dev-worker-1', {
      tokenFile: '/t',
      dataDir: '/d',
      runtime: 'synthetic',
      listenMetrics: '127.0.0.1:6130',
    });
    expect(args.slice(-2)).toEqual(['--listen-metrics', '127.0.0.1:6130']);
  });
});
