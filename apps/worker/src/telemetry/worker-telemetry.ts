import { GROVE_VERSION, type Vm } from '@grove/resources';
import {
  ExportingApp,
  formatTraceparent,
  startTelemetry,
  vmStartTrace,
  type TelemetryConfig,
  type Tracing,
} from '@grove/telemetry';
import type { WorkerMetrics } from '../metrics/worker-metrics';
import type { VmStep } from '../vms/managed-vm';

/** The steps of a VM's start; `stop` and `delete` belong to no start. */
const START_STEPS: ReadonlySet<VmStep> = new Set(['pull', 'clone', 'configure', 'boot', 'startup-script']);

/**
 * The worker's OTLP export (issue 14, docs/observability.md "OpenTelemetry"): the series of its /metrics, read from
 * its Prometheus registry at every export, and its spans of sessions and VM starts. Off (undefined `tracing`, nothing
 * of OpenTelemetry loaded) unless the configuration names an OTLP endpoint.
 */
export class WorkerTelemetry extends ExportingApp {
  constructor(options: {
    config: TelemetryConfig | undefined;
    workerName: string;
    metrics: WorkerMetrics;
    log: (line: string) => void;
  }) {
    super();
    this.telemetry = startTelemetry({
      config: options.config,
      serviceName: 'grove-worker',
      serviceVersion: GROVE_VERSION,
      resourceAttributes: { 'service.instance.id': options.workerName, 'grove.worker.name': options.workerName },
      metrics: () => options.metrics.registry,
      log: (line, level) => options.log(level === 'warn' ? `warning: ${line}` : line),
    });
  }

  /** Where spans are started; undefined when traces are not exported. */
  get tracing(): Tracing | undefined {
    return this.telemetry?.tracing;
  }

  /**
   * Records a completed step of a VM's start (`worker.vm.pull`, `…clone`, `…configure`, `…boot`,
   * `…startup-script`) in the VM's start trace, as a child of the controller's `vm.start` span: both derive its ids
   * from the VM's uid and restart count.
   */
  readonly vmStep = (step: VmStep, seconds: number, vm: Vm): void => {
    const tracing = this.tracing;
    if (!tracing || !START_STEPS.has(step)) {
      return;
    }
    const end = Date.now();
    tracing
      .startSpan(`worker.vm.${step}`, {
        parent: formatTraceparent(vmStartTrace(vm.uid, vm.restart_count)),
        startTime: end - seconds * 1000,
        attributes: {
          'grove.vm.name': vm.name,
          'grove.vm.uid': vm.uid,
          'grove.vm.image': vm.image,
          'grove.vm.restart_count': vm.restart_count,
        },
      })
      .end({ endTime: end });
  };
}
