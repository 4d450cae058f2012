import { Inject, Injectable } from '@nestjs/common';
import type { ClusterSettings } from '@grove/resources';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import type { ClusterSettingsDto } from './cluster-settings.dto';
import { ClusterSettingsRepository } from './cluster-settings.repository';

@Injectable()
export class ClusterSettingsService {
  constructor(
    private readonly repository: ClusterSettingsRepository,
    @Inject(CONTROLLER_CONFIG) private readonly config: Pick<ControllerConfig, 'insecureAllowHostDirs'>,
  ) {}

  get(): Promise<ClusterSettings> {
    return this.repository.get();
  }

  /**
   * The settings a new VM is checked against: the stored ones, except that a controller run with
   * `--insecure-allow-host-dirs` admits every host directory (the empty prefix matches every path; paths with `..`
   * stay refused). The stored policies, and what `GET /v1/cluster-settings` shows, are left alone.
   */
  async forNewVms(): Promise<ClusterSettings> {
    const settings = await this.repository.get();
    return this.config.insecureAllowHostDirs ? { ...settings, hostDirPolicies: [{ pathPrefix: '' }] } : settings;
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
