import { ConfigError, loadControllerConfig, parseListenAddress } from './controller-config';

describe('controller configuration', () => {
  const env = { GROVE_HOME: '/tmp/grove-home' };

  it('has sensible defaults', () => {
    const config = loadControllerConfig([], env);
    expect(config).toMatchObject({
      listenHost: '0.0.0.0',
      listenPort: 6120,
      dataDir: '/tmp/grove-home/controller',
      insecureNoTls: false,
      jsonLogs: false,
      workerOfflineTimeoutMs: 180_000,
      grpcListen: { host: '0.0.0.0', port: 6121 },
    });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.bootstrapAdminToken).toBeUndefined();
  });

  it('reads flags and environment', () => {
    const config = loadControllerConfig(
      [
        '--listen',
        '127.0.0.1:7000',
        '--data-dir',
        '/srv/grove',
        '--insecure-no-tls',
        '--worker-offline-timeout',
        '90s',
      ],
      { ...env, GROVE_DATABASE_URL: 'postgres://u@h/db', GROVE_BOOTSTRAP_ADMIN_TOKEN: 'long-enough' },
    );
    expect(config).toMatchObject({
      listenHost: '127.0.0.1',
      listenPort: 7000,
      dataDir: '/srv/grove',
      insecureNoTls: true,
      databaseUrl: 'postgres://u@h/db',
      bootstrapAdminToken: 'long-enough',
      workerOfflineTimeoutMs: 90_000,
    });
  });

  it('serves /metrics without credentials only with --metrics-public', () => {
    expect(loadControllerConfig([], env).metricsPublic).toBe(false);
    expect(loadControllerConfig(['--metrics-public'], env).metricsPublic).toBe(true);
    expect(() => loadControllerConfig(['--metrics-public=yes'], env)).toThrow(ConfigError);
  });

  it('moves or turns off the worker gRPC listener', () => {
    expect(loadControllerConfig(['--listen-grpc', '127.0.0.1:7001'], env).grpcListen).toEqual({
      host: '127.0.0.1',
      port: 7001,
    });
    expect(loadControllerConfig(['--listen-grpc', 'off'], env).grpcListen).toBeUndefined();
    expect(() => loadControllerConfig(['--listen-grpc', 'x'], env)).toThrow(/--listen-grpc "x" is not of the form/);
  });

  it.each([
    [':6120', { host: '0.0.0.0', port: 6120 }],
    ['[::1]:6120', { host: '::1', port: 6120 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
  ])('parses the listen address %s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it('admits every host directory only with --insecure-allow-host-dirs (grove dev)', () => {
    expect(loadControllerConfig([], env).insecureAllowHostDirs).toBeUndefined();
    expect(loadControllerConfig(['--insecure-allow-host-dirs'], env).insecureAllowHostDirs).toBe(true);
  });

  it('reports every problem at once', () => {
    let error: unknown;
    try {
      loadControllerConfig(['--listen', 'nowhere', '--tls-cert', 'c.pem', '--log-format', 'xml'], {
        ...env,
        GROVE_DATABASE_URL: 'mysql://x',
        GROVE_BOOTSTRAP_ADMIN_TOKEN: 'short',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/--listen "nowhere" is not of the form HOST:PORT/);
    expect(problems).toMatch(/--tls-cert and --tls-key must be given together/);
    expect(problems).toMatch(/GROVE_DATABASE_URL must be a postgres:\/\//);
    expect(problems).toMatch(/GROVE_BOOTSTRAP_ADMIN_TOKEN must be at least 8 characters/);
    expect(problems).toMatch(/--log-format "xml"/);
  });

  it('rejects unknown flags and a TLS pair combined with --insecure-no-tls', () => {
    expect(() => loadControllerConfig(['--colour'], env)).toThrow(/Unknown option '--colour'/);
    expect(() => loadControllerConfig(['--insecure-no-tls', '--tls-cert', 'c', '--tls-key', 'k'], env)).toThrow(
      /cannot be combined/,
    );
    expect(() => loadControllerConfig(['--listen', '1.2.3.4:70000'], env)).toThrow(/port must be between/);
  });

  it('names the replica, its relay address, the drain deadline and the advertised gRPC port', () => {
    const defaults = loadControllerConfig([], env);
    expect(defaults.replicaName).toMatch(/^[A-Za-z0-9][A-Za-z0-9._:-]*-[0-9a-f]{6}$/);
    expect(loadControllerConfig([], env).replicaName).not.toBe(defaults.replicaName);
    expect(defaults).toMatchObject({ shutdownGraceMs: 5_000, workerPingIntervalMs: 10_000 });
    expect(loadControllerConfig(['--worker-ping-interval', '500ms'], env).workerPingIntervalMs).toBe(500);
    expect(() => loadControllerConfig(['--worker-ping-interval', '10ms'], env)).toThrow(
      /--worker-ping-interval must be between 200ms and 5m/,
    );
    expect(defaults.relayAddress).toBeUndefined();
    expect(defaults.advertiseGrpcPort).toBeUndefined();
    const config = loadControllerConfig(
      ['--replica-name', 'ctl-a', '--relay-address', '10.0.0.5:6121', '--shutdown-grace', '30s'],
      { ...env, GROVE_ADVERTISE_GRPC_PORT: '16121' },
    );
    expect(config).toMatchObject({
      replicaName: 'ctl-a',
      relayAddress: '10.0.0.5:6121',
      shutdownGraceMs: 30_000,
      advertiseGrpcPort: 16121,
    });
  });

  it('rejects a bad replica name, relay address or advertised port, naming each', () => {
    let error: unknown;
    try {
      loadControllerConfig(
        ['--replica-name', 'a b', '--relay-address', 'host', '--advertise-grpc-port', '99999', '--shutdown-grace', 'x'],
        env,
      );
    } catch (err) {
      error = err;
    }
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/--replica-name "a b" must be/);
    expect(problems).toMatch(/--relay-address "host" is not of the form HOST:PORT/);
    expect(problems).toMatch(/--advertise-grpc-port "99999" must be a port/);
    expect(problems).toMatch(/--shutdown-grace "x" is not a duration/);
  });

  it('exports over OTLP only with an endpoint, and lists a bad OTEL_* variable with the other problems', () => {
    expect(loadControllerConfig([], { ...env, OTEL_SERVICE_NAME: 'grove-eu' }).telemetry).toBeUndefined();
    expect(
      loadControllerConfig([], { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }).telemetry,
    ).toMatchObject({
      metrics: { url: 'http://127.0.0.1:4318/v1/metrics', protocol: 'http/protobuf' },
      traces: { url: 'http://127.0.0.1:4318/v1/traces' },
    });
    expect(() =>
      loadControllerConfig(['--shutdown-grace', 'x'], {
        ...env,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      }),
    ).toThrow(/--shutdown-grace "x"[\s\S]*OTEL_EXPORTER_OTLP_PROTOCOL "grpc" is not supported/);
  });
});
