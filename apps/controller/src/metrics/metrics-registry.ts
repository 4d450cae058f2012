import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Node's and the process's own metrics (CPU, memory, event-loop lag, GC, handles), in a registry of the process: they
 * describe the process, not one controller app, and prom-client's collectors start observers (GC, event-loop delay)
 * that are never stopped, so they are set up once per process however many apps it runs (tests run several).
 */
let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The Prometheus registry of one controller app (issue 14): every `grove_*` metric registers here, never in
 * prom-client's global default registry, so that several controllers in one process keep their numbers apart.
 */
@Injectable()
export class MetricsRegistry implements OnApplicationShutdown {
  /** This app's metrics. */
  readonly registry = new Registry();

  /** The Content-Type of `render`'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** This app's metrics with the process's, as one registry (asked anew at every scrape: collectors run then). */
  scrapeRegistry(): Registry {
    return Registry.merge([processMetrics(), this.registry]);
  }

  /** Everything in Prometheus text format; collectors that read the database run now. */
  render(): Promise<string> {
    return this.scrapeRegistry().metrics();
  }

  onApplicationShutdown(): void {
    this.registry.clear();
  }
}
