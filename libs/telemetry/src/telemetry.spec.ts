import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { startTelemetry, stopWithin } from './telemetry';
import { readTelemetryConfig } from './telemetry-config';
import { vmStartTrace } from './trace-context';

/** A loopback OTLP/HTTP receiver of JSON requests: what arrived, by path. */
async function jsonReceiver(status = 200): Promise<{ url: string; received: Map<string, any[]>; server: Server }> {
  const received = new Map<string, any[]>();
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.set(req.url!, [...(received.get(req.url!) ?? []), JSON.parse(body)]);
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

describe('startTelemetry', () => {
  it('does nothing without a configuration', () => {
    expect(
      startTelemetry({ serviceName: 'x', resourceAttributes: {}, metrics: () => new Registry(), log: () => undefined }),
    ).toBeUndefined();
  });

  it('exports spans with their parents and the Prometheus series over OTLP/JSON', async () => {
    const receiver = await jsonReceiver();
    const lines: string[] = [];
    const registry = new Registry();
    new Counter({ name: 'grove_things_total', help: 'things', registers: [registry] }).inc(4);
    const { config } = readTelemetryConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
    });
    const telemetry = startTelemetry({
      config,
      serviceName: 'grove-test',
      resourceAttributes: { 'service.instance.id': 'replica-1' },
      metrics: () => registry,
      log: (line) => lines.push(line),
    })!;
    const tracing = telemetry.tracing!;
    const clientParent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const session = tracing.startSpan('port-forward', {
      parent: clientParent,
      kind: 'server',
      attributes: { a: 1, b: undefined },
    });
    const child = tracing.startSpan('connect', { parent: session });
    child.end({ error: 'connection refused' });
    session.end();
    const vm = vmStartTrace('5c0ffee0-1234-4abc-8def-0123456789ab', 0);
    tracing.startSpan('vm.start', { ids: vm, startTime: Date.now() - 1000 }).end();
    await stopWithin(() => telemetry.stopMetrics(), 5000);
    await stopWithin(() => telemetry.stopTraces(), 5000);
    receiver.server.close();

    expect(lines[0]).toMatch(
      /^OpenTelemetry: exporting metrics \(http\/json, every 60 s\) to http.*\/v1\/metrics and traces/,
    );
    const spans = receiver.received.get('/v1/traces')!.flatMap((r) => r.resourceSpans[0].scopeSpans[0].spans);
    const byName = new Map(spans.map((s: any) => [s.name, s]));
    const [forward, connect, start] = ['port-forward', 'connect', 'vm.start'].map((name) => byName.get(name));
    expect(forward).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7' });
    expect(forward.attributes).toEqual([{ key: 'a', value: { intValue: 1 } }]);
    expect(connect).toMatchObject({
      traceId: forward.traceId,
      parentSpanId: forward.spanId,
      status: { code: 2, message: 'connection refused' },
    });
    expect(start).toMatchObject({ traceId: vm.traceId, spanId: vm.spanId });
    expect(start.parentSpanId ?? '').toBe('');

    const resource = receiver.received.get('/v1/metrics')![0].resourceMetrics[0];
    expect(resource.resource.attributes).toEqual(
      expect.arrayContaining([
        { key: 'service.name', value: { stringValue: 'grove-test' } },
        { key: 'service.instance.id', value: { stringValue: 'replica-1' } },
      ]),
    );
    const metric = resource.scopeMetrics[0].metrics.find((m: any) => m.name === 'grove_things_total');
    expect(metric.sum).toMatchObject({ isMonotonic: true, dataPoints: [expect.objectContaining({ asDouble: 4 })] });
  });

  it('tells the log once when exports fail', async () => {
    // A collector that refuses the data (400 is not retried, unlike a connection refused).
    const receiver = await jsonReceiver(400);
    const lines: string[] = [];
    const { config } = readTelemetryConfig({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    const telemetry = startTelemetry({
      config,
      serviceName: 'grove-test',
      resourceAttributes: {},
      metrics: () => new Registry(),
      log: (line) => lines.push(line),
    })!;
    telemetry.tracing!.startSpan('one').end();
    await stopWithin(() => telemetry.stopTraces(), 5000);
    receiver.server.close();
    expect(lines.filter((line) => /failed/.test(line))).toEqual([
      expect.stringMatching(
        /^OpenTelemetry: exporting traces to http:\/\/127\.0\.0\.1:\d+\/v1\/traces failed: .*Bad Request/,
      ),
    ]);
  });
});
