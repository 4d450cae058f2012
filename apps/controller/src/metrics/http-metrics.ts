import { Injectable } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { Histogram } from 'prom-client';
import { MetricsRegistry } from './metrics-registry';

/** The `route` of requests that matched no route (404s of unknown paths): their paths are not labels. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Request durations by method, route template and status (issue 14). The route is the template the request matched
 * (`/v1/vms/:name`), never its path, so that the series stay as many as the API's routes. WebSocket handshakes that
 * became sessions and streamed answers (watch, the exec POST) hand their connection over and are not timed here; the
 * session metrics cover them, and their refusals (4xx, 5xx) are timed like any answer.
 */
@Injectable()
export class HttpMetrics {
  private readonly duration: Histogram<'method' | 'route' | 'status'>;

  constructor(metrics: MetricsRegistry) {
    this.duration = new Histogram({
      name: 'grove_http_request_duration_seconds',
      help: 'Duration of answered HTTP requests, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [metrics.registry],
    });
  }

  /** Times every answer of `fastify` from now on (before the app is ready). */
  install(fastify: FastifyInstance): void {
    fastify.addHook('onResponse', (request, reply, done) => {
      this.observe(
        request.method,
        request.routeOptions.url ?? UNMATCHED_ROUTE,
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
      done();
    });
  }

  /** Times one answer given outside Fastify (a port-forward refused on the fast lane). */
  observe(method: string, route: string, status: number, seconds: number): void {
    this.duration.observe({ method, route, status: String(status) }, seconds);
  }
}
