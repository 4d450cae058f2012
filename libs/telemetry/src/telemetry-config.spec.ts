import { readTelemetryConfig } from './telemetry-config';

describe('readTelemetryConfig', () => {
  it('is off, with no problem, when no endpoint is given (other variables alone do not turn it on)', () => {
    expect(readTelemetryConfig({})).toEqual({ config: undefined, problems: [] });
    expect(
      readTelemetryConfig({
        OTEL_SERVICE_NAME: 'x',
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_EXPORTER_OTLP_ENDPOINT: ' ',
      }),
    ).toEqual({ config: undefined, problems: [] });
  });

  it('exports metrics and traces to the paths of the general endpoint, protobuf by default', () => {
    const { config, problems } = readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' });
    expect(problems).toEqual([]);
    expect(config).toEqual({
      resourceAttributes: {},
      metrics: {
        url: 'http://127.0.0.1:4318/v1/metrics',
        protocol: 'http/protobuf',
        intervalMs: 60_000,
        timeoutMs: 30_000,
      },
      traces: { url: 'http://127.0.0.1:4318/v1/traces', protocol: 'http/protobuf', scheduleDelayMs: 5_000 },
    });
  });

  it('takes a signal endpoint as given, and exports only the signals that have an endpoint', () => {
    const { config } = readTelemetryConfig({
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://collector.example:4318/custom/metrics',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_SERVICE_NAME: 'grove-eu-1',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=mac%20fleet',
    });
    expect(config).toEqual({
      serviceName: 'grove-eu-1',
      resourceAttributes: { 'deployment.environment': 'prod', team: 'mac fleet' },
      // The default timeout (30 s) would outlast a 500 ms interval: it shrinks to it.
      metrics: {
        url: 'https://collector.example:4318/custom/metrics',
        protocol: 'http/json',
        intervalMs: 500,
        timeoutMs: 500,
      },
    });
  });

  it('lets the signal variables turn one signal off or override the protocol', () => {
    const { config } = readTelemetryConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    expect(config?.metrics).toBeUndefined();
    expect(config?.traces?.protocol).toBe('http/json');
    expect(
      readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://h:1', OTEL_SDK_DISABLED: 'true' }).config,
    ).toBeUndefined();
  });

  it('names every variable that is wrong', () => {
    const { problems } = readTelemetryConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_METRIC_EXPORT_INTERVAL: '10s',
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_RESOURCE_ATTRIBUTES: 'ok=1,broken',
    });
    expect(problems).toEqual([
      'OTEL_TRACES_EXPORTER "zipkin" is not supported: use otlp or none',
      'OTEL_RESOURCE_ATTRIBUTES: "broken" is not key=value',
      'OTEL_METRIC_EXPORT_INTERVAL "10s" must be a positive number of milliseconds',
      'OTEL_EXPORTER_OTLP_PROTOCOL "grpc" is not supported: use http/protobuf (the default) or http/json (Grove exports OTLP over HTTP only)',
    ]);
    expect(
      readTelemetryConfig({
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'ftp://h/x',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url',
      }).problems,
    ).toEqual([
      'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT "ftp://h/x" must be an http:// or https:// URL (OTLP over HTTP)',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT "not a url" is not a URL (e.g. http://127.0.0.1:4318)',
    ]);
    expect(
      readTelemetryConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://h:1',
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_METRIC_EXPORT_TIMEOUT: '5000',
      }).problems,
    ).toEqual(['OTEL_METRIC_EXPORT_TIMEOUT (5000 ms) must not be longer than OTEL_METRIC_EXPORT_INTERVAL (1000 ms)']);
  });
});
