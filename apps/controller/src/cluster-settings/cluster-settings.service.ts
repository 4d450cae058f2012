import { Injectable } from '@nestjs/common';
import type { ClusterSettings } from '@grove/resources';
import type { ClusterSettingsDto } from './cluster-settings.dto';
import { ClusterSettingsRepository } from './cluster-settings.repository';

@Injectable()
export class ClusterSettingsService {
  constructor(private readonly repository: ClusterSettingsRepository) {}

  get(): Promise<ClusterSettings> {
    return this.repository.get();
  }

  /** Replaces the whole object, as Orchard does; an empty profile means the default. */
  async set(input: ClusterSettingsDto): Promise<ClusterSettings> {
    const settings: ClusterSettings = {
      hostDirPolicies: (input.hostDirPolicies ?? []).map((p) => ({ pathPrefix: p.pathPrefix, ro: p.ro ?? false })),
      schedulerProfile: input.schedulerProfile || 'optimize-utilization',
    };
    await this.repository.set(settings);
    return settings;
  }
}
