import { stopWithin, type Telemetry } from './telemetry';

/** How long the last exports may take at shutdown before the app stops without them. */
const STOP_TIMEOUT_MS = 5_000;

/**
 * An app's telemetry with the stop order every Grove app needs (the Nest shutdown hooks by name): the last metrics
 * export while the app's state still says what it ran, then the spans of the sessions its stop ended.
 */
export abstract class ExportingApp {
  /** Undefined when nothing is exported (no OTLP endpoint configured). */
  protected telemetry: Telemetry | undefined;

  async beforeApplicationShutdown(): Promise<void> {
    const telemetry = this.telemetry;
    if (telemetry) {
      await stopWithin(() => telemetry.stopMetrics(), STOP_TIMEOUT_MS);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    const telemetry = this.telemetry;
    if (telemetry) {
      await stopWithin(() => telemetry.stopTraces(), STOP_TIMEOUT_MS);
    }
  }
}
