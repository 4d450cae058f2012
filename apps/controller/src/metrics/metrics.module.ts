import { Global, Module } from '@nestjs/common';
import { FleetMetrics } from './fleet-metrics';
import { FleetRepository } from './fleet.repository';
import { HttpMetrics } from './http-metrics';
import { MetricsController } from './metrics.controller';
import { MetricsRegistry } from './metrics-registry';
import { SchedulingMetrics } from './scheduling-metrics';
import { SessionMetrics } from './session-metrics';
import { StatusController } from './status.controller';
import { StatusService } from './status.service';

/**
 * Prometheus metrics and `GET /v1/status` (issue 14). Global: the modules where sessions, placements and state reports
 * happen record them through `SessionMetrics` and `SchedulingMetrics` without importing this module each.
 */
@Global()
@Module({
  controllers: [MetricsController, StatusController],
  providers: [
    MetricsRegistry,
    FleetRepository,
    FleetMetrics,
    HttpMetrics,
    SchedulingMetrics,
    SessionMetrics,
    StatusService,
  ],
  exports: [MetricsRegistry, HttpMetrics, SchedulingMetrics, SessionMetrics],
})
export class MetricsModule {}
