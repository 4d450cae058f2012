import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateSchema1763856000000 implements MigrationInterface {
  name = 'CreateSchema1763856000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE service_accounts (
        name text PRIMARY KEY,
        token_hash text NOT NULL,
        roles text[] NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE workers (
        name text PRIMARY KEY,
        machine_id text NOT NULL,
        last_seen timestamptz NOT NULL,
        scheduling_paused boolean NOT NULL DEFAULT false,
        resources jsonb NOT NULL DEFAULT '{}',
        labels jsonb NOT NULL DEFAULT '{}',
        default_cpu bigint NOT NULL DEFAULT 0,
        default_memory bigint NOT NULL DEFAULT 0,
        arch text NOT NULL,
        runtime text NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE vms (
        name text PRIMARY KEY,
        uid uuid NOT NULL,
        version bigint NOT NULL,
        worker text NOT NULL DEFAULT '',
        status text NOT NULL,
        created_at timestamptz NOT NULL,
        -- json, not jsonb: it keeps the text as written, so lists are served without re-encoding each VM.
        document json NOT NULL,
        CONSTRAINT vms_uid_key UNIQUE (uid)
      )`);
    await q.query(`CREATE INDEX vms_worker_idx ON vms (worker)`);
    await q.query(`CREATE INDEX vms_created_at_idx ON vms (created_at)`);
    await q.query(`
      CREATE TABLE vm_events (
        id bigserial PRIMARY KEY,
        vm_uid uuid NOT NULL REFERENCES vms (uid) ON DELETE CASCADE,
        kind text NOT NULL,
        timestamp bigint NOT NULL,
        payload text NOT NULL
      )`);
    await q.query(`CREATE INDEX vm_events_vm_uid_id_idx ON vm_events (vm_uid, id)`);
    await q.query(`
      CREATE TABLE cluster_settings (
        id integer PRIMARY KEY CHECK (id = 1),
        host_dir_policies jsonb NOT NULL DEFAULT '[]',
        scheduler_profile text NOT NULL DEFAULT 'optimize-utilization'
      )`);
    await q.query(`INSERT INTO cluster_settings (id) VALUES (1)`);
    await q.query(`CREATE SEQUENCE vm_version_seq`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP SEQUENCE vm_version_seq`);
    await q.query(`DROP TABLE cluster_settings`);
    await q.query(`DROP TABLE vm_events`);
    await q.query(`DROP TABLE vms`);
    await q.query(`DROP TABLE workers`);
    await q.query(`DROP TABLE service_accounts`);
  }
}
