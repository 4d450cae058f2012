import { Module } from '@nestjs/common';
import { ServiceAccountController } from './service-account.controller';
import { ServiceAccountRepository } from './service-account.repository';
import { ServiceAccountService } from './service-account.service';

@Module({
  controllers: [ServiceAccountController],
  providers: [ServiceAccountRepository, ServiceAccountService],
  exports: [ServiceAccountService],
})
export class ServiceAccountModule {}
