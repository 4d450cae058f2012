import { Module } from '@nestjs/common';
import { ClusterSettingsModule } from '../cluster-settings/cluster-settings.module';
import { VmModule } from '../vms/vm.module';
import { WorkerModule } from '../workers/worker.module';
import { WorkerSessionModule } from '../worker-sessions/worker-session.module';
import { SchedulerService } from './scheduler.service';

@Module({
  imports: [VmModule, WorkerModule, ClusterSettingsModule, WorkerSessionModule],
  providers: [SchedulerService],
  exports: [SchedulerService],
})
export class SchedulerModule {}
