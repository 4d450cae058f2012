import { Module } from '@nestjs/common';
import { WorkerTrafficPool } from '../infra/database/worker-traffic-pool';
import { WorkerController } from './worker.controller';
import { WorkerRepository } from './worker.repository';
import { WorkerService } from './worker.service';

@Module({
  controllers: [WorkerController],
  providers: [WorkerRepository, WorkerService, WorkerTrafficPool],
  exports: [WorkerService, WorkerTrafficPool],
})
export class WorkerModule {}
