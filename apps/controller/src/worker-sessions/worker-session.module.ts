import { Module } from '@nestjs/common';
import { ServiceAccountModule } from '../service-accounts/service-account.module';
import { WorkerModule } from '../workers/worker.module';
import { WorkerGrpcServer } from './worker-grpc.server';
import { WorkerSessionRegistry } from './worker-session.registry';

@Module({
  imports: [ServiceAccountModule, WorkerModule],
  providers: [WorkerSessionRegistry, WorkerGrpcServer],
  exports: [WorkerSessionRegistry, WorkerGrpcServer],
})
export class WorkerSessionModule {}
