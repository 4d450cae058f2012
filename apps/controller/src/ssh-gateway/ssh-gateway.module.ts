import { Module } from '@nestjs/common';
import { ServiceAccountModule } from '../service-accounts/service-account.module';
import { TunnelModule } from '../tunnels/tunnel.module';
import { VmModule } from '../vms/vm.module';
import { WorkerSessionModule } from '../worker-sessions/worker-session.module';
import { SshForwardService } from './ssh-forward.service';
import { SshGatewayAuthenticator } from './ssh-gateway-auth';
import { SshGatewayServer } from './ssh-gateway.server';
import { SshShellService } from './ssh-shell.service';

/** The SSH gateway (`--listen-ssh`); idle unless configured. */
@Module({
  imports: [ServiceAccountModule, TunnelModule, VmModule, WorkerSessionModule],
  providers: [SshGatewayAuthenticator, SshForwardService, SshShellService, SshGatewayServer],
  exports: [SshGatewayServer],
})
export class SshGatewayModule {}
