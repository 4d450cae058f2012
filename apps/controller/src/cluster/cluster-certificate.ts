import { randomBytes } from 'node:crypto';
import { certificateFingerprint } from '@grove/resources';
import type { DataSource } from 'typeorm';
import type { CertificateMaterial } from '../infra/tls/certificate';
import type { SshHostKey } from '../ssh-gateway/ssh-host-key';

/**
 * The certificate every replica of a cluster serves. Workers and CLI contexts pin one fingerprint, and replicas pin it
 * on their relays to each other, so all replicas behind a load balancer must present the same certificate. A pair the
 * operator gave (`--tls-cert/--tls-key`) is used as it is (give every replica the same files); otherwise the first
 * replica's certificate (its data dir's, or newly generated) is kept in Postgres and every later replica serves that
 * one. The private key then lives in the database, next to the service-account token hashes — whoever can read the
 * database controls the cluster anyway (docs/high-availability.md).
 */
export async function clusterCertificate(
  dataSource: DataSource,
  local: CertificateMaterial,
): Promise<CertificateMaterial> {
  if (local.source === 'user') {
    return local;
  }
  const rows: { tls_cert_pem: string; tls_key_pem: string }[] = await dataSource.query(
    `INSERT INTO cluster_secrets (id, relay_token, tls_cert_pem, tls_key_pem) VALUES (1, $1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET tls_cert_pem = coalesce(cluster_secrets.tls_cert_pem, EXCLUDED.tls_cert_pem),
                                    tls_key_pem = coalesce(cluster_secrets.tls_key_pem, EXCLUDED.tls_key_pem)
     RETURNING tls_cert_pem, tls_key_pem`,
    [randomBytes(32).toString('base64url'), local.certPem, local.keyPem],
  );
  const shared = rows[0];
  if (shared.tls_cert_pem === local.certPem) {
    return local;
  }
  return {
    certPem: shared.tls_cert_pem,
    keyPem: shared.tls_key_pem,
    fingerprint: certificateFingerprint(shared.tls_cert_pem),
    generated: false,
    source: 'cluster',
  };
}

/**
 * The SSH gateway's host key every replica presents: the operator's `--ssh-host-key` as it is, else the first
 * replica's key (from its data dir or generated), kept in Postgres like the certificate, so that a client's
 * known_hosts entry holds whichever replica the load balancer picks. Returns the private key text to use.
 */
export async function clusterSshHostKey(dataSource: DataSource, local: SshHostKey): Promise<string> {
  if (local.source === 'user' || !dataSource.isInitialized) {
    return local.privateKey;
  }
  const rows: { ssh_host_key: string }[] = await dataSource.query(
    `INSERT INTO cluster_secrets (id, relay_token, ssh_host_key) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET ssh_host_key = coalesce(cluster_secrets.ssh_host_key, EXCLUDED.ssh_host_key)
     RETURNING ssh_host_key`,
    [randomBytes(32).toString('base64url'), local.privateKey],
  );
  return rows[0].ssh_host_key;
}
