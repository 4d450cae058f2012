import { Module } from '@nestjs/common';
import { ClusterSettingsModule } from '../cluster-settings/cluster-settings.module';
import { WorkerModule } from '../workers/worker.module';
import { WorkerSessionModule } from '../worker-sessions/worker-session.module';
import { AuditRecorder } from './audit-recorder';
import { VmChangeBus } from './vm-change-bus';
import { VmSchedulingRepository } from './vm-scheduling.repository';
import { VmSchedulingService } from './vm-scheduling.service';
import { VmController } from './vm.controller';
import { VmRepository } from './vm.repository';
import { VmService } from './vm.service';

@Module({
  imports: [ClusterSettingsModule, WorkerModule, WorkerSessionModule],
  controllers: [VmController],
  providers: [VmRepository, VmService, VmChangeBus, AuditRecorder, VmSchedulingRepository, VmSchedulingService],
  exports: [VmService, VmChangeBus, AuditRecorder, VmSchedulingService],
})
export class VmModule {}
