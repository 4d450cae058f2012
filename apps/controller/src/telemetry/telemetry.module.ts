import { Global, Module } from '@nestjs/common';
import { ControllerTelemetry } from './controller-telemetry';
import { SessionTraces } from './session-traces';
import { VmStartTraces } from './vm-start-traces';

/**
 * OTLP export of the controller's metrics and traces (issue 14). Global: the modules where sessions and VM starts
 * happen record their spans through `SessionTraces` and `VmStartTraces` without importing this module each.
 */
@Global()
@Module({
  providers: [ControllerTelemetry, SessionTraces, VmStartTraces],
  exports: [ControllerTelemetry, SessionTraces, VmStartTraces],
})
export class TelemetryModule {}
