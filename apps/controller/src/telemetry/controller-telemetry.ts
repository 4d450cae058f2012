import { Inject, Injectable, Logger } from '@nestjs/common';
import { GROVE_VERSION } from '@grove/resources';
import { ExportingApp, startTelemetry, type Tracing } from '@grove/telemetry';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { MetricsRegistry } from '../metrics/metrics-registry';

/**
 * The controller's OTLP export (issue 14, docs/observability.md "OpenTelemetry"): its /metrics series, read from its
 * Prometheus registry at every export, and the spans of its sessions and VM starts. Off (undefined `tracing`, nothing
 * of OpenTelemetry loaded) unless the configuration names an OTLP endpoint.
 */
@Injectable()
export class ControllerTelemetry extends ExportingApp {
  private readonly logger = new Logger('Telemetry');
  constructor(@Inject(CONTROLLER_CONFIG) config: ControllerConfig, metrics: MetricsRegistry) {
    super();
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
}
