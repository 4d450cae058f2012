import { Module } from '@nestjs/common';
import { VmModule } from '../vms/vm.module';
import { WorkerModule } from '../workers/worker.module';
import { WorkerSessionModule } from '../worker-sessions/worker-session.module';
import { ServiceAccountModule } from '../service-accounts/service-account.module';
import { PortForwardFastLane } from './port-forward-fast-lane';
import { TunnelController } from './tunnel.controller';
import { RunningVmCache } from './running-vm-cache';
import { TunnelSessionService } from './tunnel-session.service';

@Module({
  imports: [VmModule, WorkerModule, WorkerSessionModule, ServiceAccountModule],
  controllers: [TunnelController],
  providers: [TunnelSessionService, RunningVmCache, PortForwardFastLane],
  exports: [TunnelSessionService, PortForwardFastLane],
})
export class TunnelModule {}
