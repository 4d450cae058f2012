import { Module } from '@nestjs/common';
import { VmModule } from '../vms/vm.module';
import { WorkerModule } from '../workers/worker.module';
import { WorkerSessionModule } from '../worker-sessions/worker-session.module';
import { TunnelController } from './tunnel.controller';
import { RunningVmCache } from './running-vm-cache';
import { TunnelSessionService } from './tunnel-session.service';

@Module({
  imports: [VmModule, WorkerModule, WorkerSessionModule],
  controllers: [TunnelController],
  providers: [TunnelSessionService, RunningVmCache],
  exports: [TunnelSessionService],
})
export class TunnelModule {}
