import { Module } from '@nestjs/common';
import { ClusterSettingsController } from './cluster-settings.controller';
import { ClusterSettingsRepository } from './cluster-settings.repository';
import { ClusterSettingsService } from './cluster-settings.service';

@Module({
  controllers: [ClusterSettingsController],
  providers: [ClusterSettingsRepository, ClusterSettingsService],
  exports: [ClusterSettingsService],
})
export class ClusterSettingsModule {}
