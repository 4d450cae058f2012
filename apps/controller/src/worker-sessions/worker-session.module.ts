import { Module } from '@nestjs/common';
import { ServiceAccountModule } from '../service-accounts/service-account.module';
import { WorkerModule } from '../workers/worker.module';
import { IpResolver } from './ip-resolver';
import { RelayServer } from './relay.server';
import { ExecLauncher } from './remote-exec';
import { TunnelBroker } from './tunnel-broker';
import { TunnelLinkBroker } from './tunnel-link-broker';
import { WorkerGrpcServer } from './worker-grpc.server';
import { WorkerSessionRegistry } from './worker-session.registry';

@Module({
  imports: [ServiceAccountModule, WorkerModule],
  providers: [
    WorkerSessionRegistry,
    WorkerGrpcServer,
    TunnelBroker,
    TunnelLinkBroker,
    IpResolver,
    ExecLauncher,
    RelayServer,
  ],
  exports: [WorkerSessionRegistry, WorkerGrpcServer, TunnelBroker, TunnelLinkBroker, IpResolver, ExecLauncher],
})
export class WorkerSessionModule {}
