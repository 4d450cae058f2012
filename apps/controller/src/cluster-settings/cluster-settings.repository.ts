import { Injectable } from '@nestjs/common';
import type { ClusterSettings, SchedulerProfile } from '@grove/resources';
import { DataSource, type Repository } from 'typeorm';
import { ClusterSettingsEntity } from './cluster-settings.entity';

@Injectable()
export class ClusterSettingsRepository {
  private readonly repo: Repository<ClusterSettingsEntity>;

  constructor(dataSource: DataSource) {
    this.repo = dataSource.getRepository(ClusterSettingsEntity);
  }

  async get(): Promise<ClusterSettings> {
    const row = await this.repo.findOneByOrFail({ id: 1 });
    return { hostDirPolicies: row.hostDirPolicies, schedulerProfile: row.schedulerProfile as SchedulerProfile };
  }

  async set(settings: ClusterSettings): Promise<void> {
    await this.repo.update(
      { id: 1 },
      { hostDirPolicies: settings.hostDirPolicies, schedulerProfile: settings.schedulerProfile },
    );
  }
}
