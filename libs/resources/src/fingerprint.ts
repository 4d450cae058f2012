import { createHash, X509Certificate } from 'node:crypto';

/**
 * SHA-256 fingerprint of a certificate (PEM text or DER bytes) in Orchard's display format: uppercase hex bytes
 * separated by spaces (`AB CD 01 …`), so that people can compare what the controller prints with what a client sees.
 */
export function certificateFingerprint(cert: string | Uint8Array): string {
  const der = typeof cert === 'string' ? new X509Certificate(cert).raw : Buffer.from(cert);
  const hex = createHash('sha256').update(der).digest('hex').toUpperCase();
  return hex.match(/../g)!.join(' ');
}
