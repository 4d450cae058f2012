import type { Vm } from '@grove/resources';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A VM row. The columns the controller queries or locks on are explicit; the public document lives whole in
 * `document` (json, kept as written in the API's field order), because the API shape follows Orchard's ~40 fields
 * and changes with it while queries do not, and because `GET /v1/vms` can then be served by concatenating documents.
 */
@Entity({ name: 'vms' })
export class VmEntity {
  @PrimaryColumn({ type: 'text' })
  name!: string;

  @Column({ type: 'uuid', unique: true })
  uid!: string;

  /** Incremented on every write; the `version` of the API and the ordering key of watch events. */
  @Column({ type: 'bigint', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  version!: number;

  @Column({ type: 'text' })
  worker!: string;

  @Column({ type: 'text' })
  status!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ type: 'json' })
  document!: Vm;
}
