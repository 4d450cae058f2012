import { Injectable, Logger } from '@nestjs/common';
import { VmService } from './vm.service';

/**
 * Where session audit records go (port-forward, exec, SSH gateway): a JSON line in the `Audit` log context and, when
 * the session concerned a VM, an `audit` event of that VM incarnation (which clients cannot forge: the events API
 * accepts only `log_line`). Storing the event never fails the caller; a failure is logged.
 */
@Injectable()
export class AuditRecorder {
  private readonly audit = new Logger('Audit');
  private readonly logger = new Logger('AuditRecorder');

  constructor(private readonly vms: VmService) {}

  record(record: object, vm: { name: string; uid: string } | undefined, at: Date = new Date()): void {
    const payload = JSON.stringify(record);
    this.audit.log(payload);
    if (!vm) {
      return;
    }
    this.vms
      .appendEventsIfCurrent(vm.name, vm.uid, [{ kind: 'audit', timestamp: Math.floor(at.getTime() / 1000), payload }])
      .catch((err: Error) => this.logger.warn(`cannot store the audit event of VM "${vm.name}": ${err.message}`));
  }
}
