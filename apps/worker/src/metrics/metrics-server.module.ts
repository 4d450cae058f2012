import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { WORKER_CONFIG, WORKER_LOG } from '../config/worker-config.module';
import type { WorkerConfig } from '../config/worker-config';
import { SessionHealth } from '../session/session-health';
import { SessionModule } from '../session/session.module';
import { MetricsServer, type HealthAnswer } from './metrics-server';
import { WorkerMetrics } from './worker-metrics';

/**
 * The `--listen-metrics` listener as part of the worker application: it listens while the modules initialise, so
 * that a port in use fails the start before anything runs and `/healthz` answers (503) before the session opens, and
 * it closes after the worker has stopped, answering 503 "the worker is stopping" meanwhile.
 */
@Injectable()
export class MetricsEndpoint implements OnModuleInit, OnApplicationShutdown {
  private server: MetricsServer | undefined;
  /** Where it listens, once it does. */
  address: AddressInfo | undefined;

  constructor(
    @Inject(WORKER_CONFIG) private readonly config: WorkerConfig,
    @Inject(WORKER_LOG) private readonly log: (line: string) => void,
    @Inject(WorkerMetrics) private readonly metrics: WorkerMetrics,
    @Inject(SessionHealth) private readonly health: SessionHealth,
  ) {}

  async onModuleInit(): Promise<void> {
    const listen = this.config.metricsListen;
    if (!listen) {
      this.log('not serving /healthz and /metrics (--listen-metrics off)');
      return;
    }
    const server = new MetricsServer({
      host: listen.host,
      port: listen.port,
      metrics: () => this.metrics.text(),
      health: () => this.healthAnswer(),
    });
    const wanted = hostPort(listen.host, listen.port);
    try {
      this.address = await server.listen();
    } catch (err) {
      if (!listen.given && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        // The default port is taken, most likely by another worker on this host (tests, `grove dev`): the worker's job
        // is its VMs, so it runs on, saying how to get a listener of its own.
        this.log(
          `warning: not serving /healthz and /metrics: ${wanted} is in use (another worker on this host?); ` +
            'give each worker its own --listen-metrics HOST:PORT',
        );
        return;
      }
      throw new Error(`cannot serve /healthz and /metrics on ${wanted} (--listen-metrics): ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.server = server;
    this.log(`serving /healthz and /metrics on http://${hostPort(listen.host, this.address.port)}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close();
  }

  private healthAnswer(): HealthAnswer {
    const common = { worker: this.config.name, controller: this.config.controllerUrl };
    const state = this.health.current;
    return state.up
      ? { status: 200, body: { status: 'ok', ...common, sessionSince: state.since.toISOString() } }
      : { status: 503, body: { status: 'unavailable', ...common, reason: state.reason } };
  }
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** `/healthz` and `/metrics` on `--listen-metrics` (issue 14). */
@Module({
  imports: [SessionModule],
  providers: [MetricsEndpoint],
  exports: [MetricsEndpoint],
})
export class MetricsServerModule {}
