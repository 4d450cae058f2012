import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBootstrapToken } from '@grove/resources';
import {
  defaultRuntime,
  defaultWorkerDataDir,
  loadWorkerConfig,
  normaliseControllerUrl,
  parseSyntheticDelays,
  WorkerConfigError,
} from './worker-config';

const token = encodeBootstrapToken({ serviceAccountName: 'workers', serviceAccountToken: 'secret' });

describe('worker configuration', () => {
  it('normalises controller addresses like Orchard', () => {
    expect(normaliseControllerUrl('ctrl.example.com')).toBe('https://ctrl.example.com:6120');
    expect(normaliseControllerUrl('http://127.0.0.1:7000/')).toBe('http://127.0.0.1:7000');
    expect(() => normaliseControllerUrl('ftp://x')).toThrow(/http or https/);
  });

  it('reads the token from a flag, stdin or a file, and merges resources over the automatic ones', () => {
    const config = loadWorkerConfig([
      'ctrl',
      '--bootstrap-token',
      token,
      '--name',
      'mac-1',
      '--labels',
      'pool=ci,zone=a',
      '--resources',
      'org.cirruslabs.tart-vms=1',
      '--default-cpu',
      '8',
    ]);
    expect(config).toMatchObject({
      controllerUrl: 'https://ctrl:6120',
      name: 'mac-1',
      labels: { pool: 'ci', zone: 'a' },
      defaultCpu: 8,
      defaultMemory: 8192,
      credentials: { serviceAccountName: 'workers', serviceAccountToken: 'secret' },
    });
    expect(config.resources['org.cirruslabs.tart-vms']).toBe(1);
    expect(config.resources['org.cirruslabs.logical-cores']).toBeGreaterThan(0);

    expect(
      loadWorkerConfig(['ctrl', '--bootstrap-token-stdin'], () => `${token}\n`).credentials.serviceAccountName,
    ).toBe('workers');
    const dir = mkdtempSync(join(tmpdir(), 'grove-worker-config-'));
    try {
      writeFileSync(join(dir, 'token'), token);
      expect(
        loadWorkerConfig(['ctrl', '--bootstrap-token-file', join(dir, 'token')]).credentials.serviceAccountToken,
      ).toBe('secret');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      loadWorkerConfig([
        '--bootstrap-token',
        token,
        '--bootstrap-token-stdin',
        '--resources',
        'x=y',
        '--default-cpu',
        'many',
        '--runtime',
        'vetu',
        '--synthetic-delays',
        'boot=soon',
      ]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WorkerConfigError);
    const problems = (error as WorkerConfigError).problems.join('\n');
    expect(problems).toMatch(/exactly one CONTROLLER_URL/);
    expect(problems).toMatch(/exactly one of --bootstrap-token/);
    expect(problems).toMatch(/--resources: invalid resource "x=y"/);
    expect(problems).toMatch(/--default-cpu "many"/);
    expect(problems).toMatch(/--runtime "vetu" must be one of tart, synthetic/);
    expect(problems).toMatch(/--synthetic-delays: "boot=soon" is not STEP=MILLISECONDS/);
  });

  it('picks Tart on macOS and the synthetic runtime elsewhere, and keeps state under GROVE_HOME', () => {
    expect(defaultRuntime('darwin')).toBe('tart');
    expect(defaultRuntime('linux')).toBe('synthetic');
    expect(defaultWorkerDataDir({ GROVE_HOME: '/srv/grove' })).toBe('/srv/grove/worker');
    const config = loadWorkerConfig([
      'ctrl',
      '--bootstrap-token',
      token,
      '--runtime',
      'synthetic',
      '--data-dir',
      'rel/dir',
      '--log-file',
      'w.log',
      '--synthetic-delays',
      'clone=500,boot=20',
      '--synthetic-delays',
      'pull=1',
      '--heartbeat-interval',
      '2',
      '--endpoint-address',
      '0.0.0.0',
    ]);
    expect(config.heartbeatIntervalMs).toBe(2000);
    expect(config.endpointAddress).toBe('0.0.0.0');
    expect(config.runtime).toBe('synthetic');
    expect(config.dataDir).toBe(join(process.cwd(), 'rel/dir'));
    expect(config.logFile).toBe(join(process.cwd(), 'w.log'));
    expect(config.syntheticDelays).toEqual({ clone: 500, boot: 20, pull: 1 });
  });

  it('binds VM endpoints to loopback unless --endpoint-address names another IP address', () => {
    const args = ['ctrl', '--bootstrap-token', token];
    expect(loadWorkerConfig(args).endpointAddress).toBe('127.0.0.1');
    expect(loadWorkerConfig([...args, '--endpoint-address', '::']).endpointAddress).toBe('::');
    expect(() => loadWorkerConfig([...args, '--endpoint-address', 'example.com'])).toThrow(
      '--endpoint-address "example.com" must be an IP address of this host (e.g. 127.0.0.1, 0.0.0.0 or ::)',
    );
  });

  it('runs VM host processes unless started with --no-host-processes', () => {
    const args = ['ctrl', '--bootstrap-token', token];
    expect(loadWorkerConfig(args).hostProcesses).toBe(true);
    expect(loadWorkerConfig([...args, '--no-host-processes']).hostProcesses).toBe(false);
  });

  it('serves /healthz and /metrics on 127.0.0.1:6130 unless --listen-metrics names another address or off', () => {
    const args = ['ctrl', '--bootstrap-token', token];
    expect(loadWorkerConfig(args).metricsListen).toEqual({ host: '127.0.0.1', port: 6130, given: false });
    expect(loadWorkerConfig([...args, '--listen-metrics', '0.0.0.0:9100']).metricsListen).toEqual({
      host: '0.0.0.0',
      port: 9100,
      given: true,
    });
    expect(loadWorkerConfig([...args, '--listen-metrics', '[::1]:0']).metricsListen).toEqual({
      host: '::1',
      port: 0,
      given: true,
    });
    expect(loadWorkerConfig([...args, '--listen-metrics', 'off']).metricsListen).toBeUndefined();
    expect(loadWorkerConfig([...args, '--listen-metrics', '']).metricsListen).toBeUndefined();
    for (const bad of ['localhost:6130', '127.0.0.1', '127.0.0.1:70000', '::1:6130', ':6130']) {
      expect(() => loadWorkerConfig([...args, '--listen-metrics', bad])).toThrow(
        `--listen-metrics "${bad}" must be IP:PORT (e.g. 127.0.0.1:6130, 0.0.0.0:6130 or [::1]:6130; port 0 for any ` +
          'free port), or off',
      );
    }
  });

  it('rejects unknown delay steps and malformed delays', () => {
    expect(() => parseSyntheticDelays(['reboot=5'])).toThrow(/STEP one of pull, clone, configure, boot, delete/);
    expect(() => parseSyntheticDelays(['clone=5=6'])).toThrow(/clone=5=6/);
    expect(parseSyntheticDelays(['', 'delete=0'])).toEqual({ delete: 0 });
  });
});
