import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Several controllers on one Postgres (docs/high-availability.md): the live replicas with their leases, which replica
 * holds each worker's session and each reconnectable exec session, the cluster's relay secret that replicas present to each other, and the generated TLS
 * certificate they all serve.
 */
export class CreateReplicaRegistry1764950400000 implements MigrationInterface {
  name = 'CreateReplicaRegistry1764950400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE controller_replicas (
        name text PRIMARY KEY,
        relay_address text NOT NULL,
        http_address text NOT NULL DEFAULT '',
        started_at timestamptz NOT NULL,
        lease_expires_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE worker_sessions (
        worker text PRIMARY KEY REFERENCES workers (name) ON DELETE CASCADE,
        replica text NOT NULL REFERENCES controller_replicas (name) ON DELETE CASCADE,
        connected_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX worker_sessions_replica_idx ON worker_sessions (replica)`);
    // Reconnectable exec sessions live in the memory of the replica that started them: a client reattaching through
    // another replica is forwarded there.
    await q.query(`
      CREATE TABLE exec_sessions (
        vm_name text NOT NULL,
        id text NOT NULL,
        replica text NOT NULL REFERENCES controller_replicas (name) ON DELETE CASCADE,
        created_at timestamptz NOT NULL,
        CONSTRAINT exec_sessions_pkey PRIMARY KEY (vm_name, id)
      )`);
    await q.query(`
      CREATE TABLE cluster_secrets (
        id integer PRIMARY KEY CHECK (id = 1),
        relay_token text NOT NULL,
        -- The TLS certificate every replica serves (workers and CLI contexts pin its fingerprint), when generated.
        tls_cert_pem text,
        tls_key_pem text,
        -- The SSH gateway's generated host key, the same on every replica (clients' known_hosts pin it).
        ssh_host_key text
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE cluster_secrets`);
    await q.query(`DROP TABLE exec_sessions`);
    await q.query(`DROP TABLE worker_sessions`);
    await q.query(`DROP TABLE controller_replicas`);
  }
}
