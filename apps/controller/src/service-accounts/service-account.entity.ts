import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'service_accounts' })
export class ServiceAccountEntity {
  @PrimaryColumn({ type: 'text' })
  name!: string;

  /** `scrypt$<salt b64>$<hash b64>`; the token itself is never stored. */
  @Column({ name: 'token_hash', type: 'text' })
  tokenHash!: string;

  @Column({ type: 'text', array: true })
  roles!: string[];

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
