import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import { REPO_ROOT } from './paths';

/*
 * A small OTLP/HTTP receiver for the e2e tests (issue 14): what an OpenTelemetry Collector's `otlphttp` receiver does
 * with POST /v1/metrics and /v1/traces, protobuf bodies decoded with the subset of the protocol the tests read
 * (e2e/fixtures/otlp-subset.proto), kept in memory in a flat form the tests can search.
 */

const PROTO_FILE = join(REPO_ROOT, 'e2e', 'fixtures', 'otlp-subset.proto');

type AttributeValue = string | number | boolean;

/** A span as it arrived, with the resource it came from. */
export interface ReceivedSpan {
  service: string;
  resource: Record<string, AttributeValue>;
  scope: string;
  name: string;
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  /** OTLP's SpanKind: 1 internal, 2 server. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  startMs: number;
  endMs: number;
}

/** One data point of a metric as it arrived. */
export interface ReceivedPoint {
  service: string;
  resource: Record<string, AttributeValue>;
  metric: string;
  unit: string;
  type: 'sum' | 'gauge' | 'histogram';
  /** Sums: monotonic (a counter). */
  monotonic?: boolean;
  attributes: Record<string, AttributeValue>;
  /** Sums and gauges. */
  value?: number;
  /** Histograms. */
  count?: number;
  sum?: number;
  bounds?: number[];
  counts?: number[];
}

interface Decoded {
  [key: string]: unknown;
}

function services(): { traces: MethodDefinition<Decoded, Decoded>; metrics: MethodDefinition<Decoded, Decoded> } {
  const definition = loadSync(PROTO_FILE, { keepCase: true, longs: String, defaults: true, oneofs: true });
  const receiver = definition['grove.test.otlp.Receiver'] as Record<string, MethodDefinition<Decoded, Decoded>>;
  return {
    traces: receiver['ExportTraces'],
    metrics: receiver['ExportMetrics'],
  };
}

function anyValue(value: Decoded | undefined): AttributeValue {
  const which = value?.['value'] as string | undefined;
  const raw = which ? value![which] : undefined;
  return which === 'int_value' ? Number(raw) : (raw as AttributeValue);
}

function attributes(list: unknown): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of (list ?? []) as { key: string; value: Decoded }[]) {
    out[kv.key] = anyValue(kv.value);
  }
  return out;
}

function nanosToMs(nanos: unknown): number {
  return Number(BigInt(String(nanos)) / 1_000_000n);
}

function hex(bytes: unknown): string {
  return Buffer.isBuffer(bytes) ? bytes.toString('hex') : '';
}

/** An OTLP/HTTP receiver on a free loopback port; `close` it at the end. */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly points: ReceivedPoint[] = [];
  /** Every request: path and Content-Type. */
  readonly requests: { path: string; contentType: string }[] = [];
  private readonly codecs = services();

  private constructor(private readonly server: Server) {}

  /** The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => receiver.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The points of one metric from one service. */
  pointsOf(service: string, metric: string): ReceivedPoint[] {
    return this.points.filter((p) => p.service === service && p.metric === metric);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const contentType = req.headers['content-type'] ?? '';
      this.requests.push({ path: req.url ?? '', contentType });
      if (req.method !== 'POST' || contentType !== 'application/x-protobuf') {
        res.writeHead(415).end();
        return;
      }
      const body = Buffer.concat(chunks);
      if (req.url === '/v1/traces') {
        this.traces(this.codecs.traces.requestDeserialize(body));
      } else if (req.url === '/v1/metrics') {
        this.metrics(this.codecs.metrics.requestDeserialize(body));
      } else {
        res.writeHead(404).end();
        return;
      }
      // An empty Export…ServiceResponse: everything accepted.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  }

  private traces(request: Decoded): void {
    for (const rs of request['resource_spans'] as Decoded[]) {
      const resource = attributes((rs['resource'] as Decoded | undefined)?.['attributes']);
      for (const ss of rs['scope_spans'] as Decoded[]) {
        for (const span of ss['spans'] as Decoded[]) {
          const status = (span['status'] ?? {}) as { code?: number; message?: string };
          this.spans.push({
            service: String(resource['service.name']),
            resource,
            scope: (ss['scope'] as { name?: string } | undefined)?.name ?? '',
            name: String(span['name']),
            traceId: hex(span['trace_id']),
            spanId: hex(span['span_id']),
            parentSpanId: hex(span['parent_span_id']),
            kind: Number(span['kind']),
            attributes: attributes(span['attributes']),
            status: { code: Number(status.code ?? 0), message: status.message ?? '' },
            startMs: nanosToMs(span['start_time_unix_nano']),
            endMs: nanosToMs(span['end_time_unix_nano']),
          });
        }
      }
    }
  }

  private metrics(request: Decoded): void {
    for (const rm of request['resource_metrics'] as Decoded[]) {
      const resource = attributes((rm['resource'] as Decoded | undefined)?.['attributes']);
      const service = String(resource['service.name']);
      for (const sm of rm['scope_metrics'] as Decoded[]) {
        for (const metric of sm['metrics'] as Decoded[]) {
          const type = metric['data'] as 'sum' | 'gauge' | 'histogram';
          const data = metric[type] as Decoded;
          for (const point of data['data_points'] as Decoded[]) {
            const common = {
              service,
              resource,
              metric: String(metric['name']),
              unit: String(metric['unit']),
              type,
              attributes: attributes(point['attributes']),
            };
            if (type === 'histogram') {
              this.points.push({
                ...common,
                count: Number(point['count']),
                sum: Number(point['sum']),
                bounds: point['explicit_bounds'] as number[],
                counts: (point['bucket_counts'] as string[]).map(Number),
              });
            } else {
              const which = point['value'] as string;
              this.points.push({
                ...common,
                ...(type === 'sum' ? { monotonic: data['is_monotonic'] === true } : {}),
                value: Number(point[which]),
              });
            }
          }
        }
      }
    }
  }
}
