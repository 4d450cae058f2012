import { Module } from '@nestjs/common';
import { WorkerController } from './worker.controller';
import { WorkerRepository } from './worker.repository';
import { WorkerService } from './worker.service';

@Module({
  controllers: [WorkerController],
  providers: [WorkerRepository, WorkerService],
  exports: [WorkerService],
})
export class WorkerModule {}
