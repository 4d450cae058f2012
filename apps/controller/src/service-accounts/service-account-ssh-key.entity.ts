import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An SSH public key attached to a service account (the SSH gateway's key logins); removed with the account. */
@Entity({ name: 'service_account_ssh_keys' })
export class ServiceAccountSshKeyEntity {
  @PrimaryColumn({ name: 'service_account', type: 'text' })
  serviceAccount!: string;

  /** `SHA256:<base64>` of `blob`. */
  @PrimaryColumn({ type: 'text' })
  fingerprint!: string;

  @Column({ type: 'text' })
  type!: string;

  /** The key in the SSH wire encoding. */
  @Column({ type: 'bytea' })
  blob!: Buffer;

  @Column({ type: 'text' })
  comment!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
