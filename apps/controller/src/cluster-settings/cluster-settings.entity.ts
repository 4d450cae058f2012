import type { HostDirPolicy } from '@grove/resources';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The single cluster-settings row (id = 1). */
@Entity({ name: 'cluster_settings' })
export class ClusterSettingsEntity {
  @PrimaryColumn({ type: 'integer' })
  id!: number;

  @Column({ name: 'host_dir_policies', type: 'jsonb' })
  hostDirPolicies!: HostDirPolicy[];

  @Column({ name: 'scheduler_profile', type: 'text' })
  schedulerProfile!: string;
}
