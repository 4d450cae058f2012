import type { MigrationInterface, QueryRunner } from 'typeorm';

/** SSH public keys of service accounts, for the controller's SSH gateway (docs/ssh-gateway.md). */
export class CreateServiceAccountSshKeys1763942400000 implements MigrationInterface {
  name = 'CreateServiceAccountSshKeys1763942400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE service_account_ssh_keys (
        service_account text NOT NULL REFERENCES service_accounts (name) ON DELETE CASCADE,
        fingerprint text NOT NULL,
        type text NOT NULL,
        blob bytea NOT NULL,
        comment text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL,
        CONSTRAINT service_account_ssh_keys_pkey PRIMARY KEY (service_account, fingerprint)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE service_account_ssh_keys`);
  }
}
