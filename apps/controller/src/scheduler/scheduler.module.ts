import { Module } from '@nestjs/common';
import { ClusterSettingsModule } from '../cluster-settings/cluster-settings.module';
import { VmModule } from '../vms/vm.module';
import { WorkerModule } from '../workers/worker.module';
import { WorkerSessionModule } from '../worker-sessions/worker-session.module';
import { HealthPass } from './health-pass';
import { PlacementPass } from './placement-pass';
import { SchedulerService } from './scheduler.service';
import { SchedulingPass } from './scheduling-pass';

@Module({
  imports: [VmModule, WorkerModule, ClusterSettingsModule, WorkerSessionModule],
  providers: [SchedulerService, SchedulingPass, HealthPass, PlacementPass],
  exports: [SchedulerService],
})
export class SchedulerModule {}
