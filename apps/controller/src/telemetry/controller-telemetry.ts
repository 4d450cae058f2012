import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { GROVE_VERSION } from '@grove/resources';
import { startTelemetry, stopWithin, type Telemetry, type Tracing } from '@grove/telemetry';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { MetricsRegistry } from '../metrics/metrics-registry';

/** How long the last exports may take at shutdown before the controller stops without them. */
const STOP_TIMEOUT_MS = 5_000;

/**
 * The controller's OTLP export (issue 14, docs/observability.md "OpenTelemetry"): its /metrics series, read from its
 * Prometheus registry at every export, and the spans of its sessions and VM starts. Off (undefined `tracing`, nothing
 * of OpenTelemetry loaded) unless the configuration names an OTLP endpoint.
 */
@Injectable()
export class ControllerTelemetry implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Telemetry');
  private readonly telemetry: Telemetry | undefined;

  constructor(@Inject(CONTROLLER_CONFIG) config: ControllerConfig, metrics: MetricsRegistry) {
    this.telemetry = startTelemetry({
      config: config.telemetry,
      serviceName: 'grove-controller',
      serviceVersion: GROVE_VERSION,
      resourceAttributes: { 'service.instance.id': config.replicaName, 'grove.replica.name': config.replicaName },
      metrics: () => metrics.scrapeRegistry(),
      log: (line, level) => (level === 'warn' ? this.logger.warn(line) : this.logger.log(line)),
    });
  }

  /** Where spans are started; undefined when traces are not exported. */
  get tracing(): Tracing | undefined {
    return this.telemetry?.tracing;
  }

  /** The last metrics export, while the app's metrics are all still there. */
  async beforeApplicationShutdown(): Promise<void> {
    const telemetry = this.telemetry;
    if (telemetry) {
      await stopWithin(() => telemetry.stopMetrics(), STOP_TIMEOUT_MS);
    }
  }

  /** The spans of the sessions that the shutdown ended go out last. */
  async onApplicationShutdown(): Promise<void> {
    const telemetry = this.telemetry;
    if (telemetry) {
      await stopWithin(() => telemetry.stopTraces(), STOP_TIMEOUT_MS);
    }
  }
}
