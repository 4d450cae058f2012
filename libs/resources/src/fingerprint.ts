import { createHash, X509Certificate } from 'node:crypto';

const PEM_MARKER = '-----BEGIN';

/**
 * SHA-256 fingerprint of a certificate in Orchard's display format: uppercase hex bytes separated by spaces
 * (`AB CD 01 …`), so that people can compare what the controller prints with what a client sees (orchard.md §6.3).
 *
 * Accepts PEM text or DER bytes. Bytes that hold PEM text (a certificate file read without an encoding) are
 * fingerprinted as the certificate they contain, not as text; anything that is not a certificate throws.
 */
export function certificateFingerprint(cert: string | Uint8Array): string {
  const bytes = typeof cert === 'string' ? Buffer.from(cert, 'utf8') : Buffer.from(cert);
  const parsed = new X509Certificate(bytes);
  // DER is hashed exactly as given: the fingerprint is of the bytes a peer sends, not of a re-encoding.
  const der = bytes.includes(PEM_MARKER) ? parsed.raw : bytes;
  const hex = createHash('sha256').update(der).digest('hex').toUpperCase();
  return hex.match(/../g)!.join(' ');
}
