import { Module } from '@nestjs/common';
import { ServiceAccountCache } from '../common/auth/service-account-cache';
import { ServiceAccountSshKeyController } from './service-account-ssh-key.controller';
import { ServiceAccountSshKeyRepository } from './service-account-ssh-key.repository';
import { ServiceAccountSshKeyService } from './service-account-ssh-key.service';
import { ServiceAccountController } from './service-account.controller';
import { ServiceAccountRepository } from './service-account.repository';
import { ServiceAccountService } from './service-account.service';

@Module({
  controllers: [ServiceAccountController, ServiceAccountSshKeyController],
  providers: [
    ServiceAccountCache,
    ServiceAccountRepository,
    ServiceAccountService,
    ServiceAccountSshKeyRepository,
    ServiceAccountSshKeyService,
  ],
  exports: [ServiceAccountService, ServiceAccountSshKeyService],
})
export class ServiceAccountModule {}
