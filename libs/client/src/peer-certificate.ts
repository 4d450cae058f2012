import { connect } from 'node:tls';
import { connectionError } from './client.errors';
import { CONTROLLER_SERVER_NAME, DEFAULT_TIMEOUT_MS } from './http-transport';

/** The certificate a TLS server presented, as PEM and DER. */
export interface PeerCertificate {
  pem: string;
  der: Buffer;
}

/**
 * Connects to an `https://` controller URL and returns the certificate it presents, WITHOUT verifying it: only so
 * that a person can compare its fingerprint before pinning it (`grove context create`). Never send anything over
 * such a connection.
 */
export function fetchPeerCertificate(url: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<PeerCertificate> {
  const target = new URL(url);
  if (target.protocol !== 'https:') {
    return Promise.reject(new Error(`cannot fetch a certificate from ${url}: not an https:// URL`));
  }
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = target.port === '' ? 443 : Number(target.port);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: CONTROLLER_SERVER_NAME,
      // Deliberately unverified: the caller shows the fingerprint and asks before trusting it.
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      if (!cert || !cert.raw) {
        reject(new Error(`the controller at ${url} did not present a certificate`));
        return;
      }
      resolve({ der: cert.raw, pem: derToPem(cert.raw) });
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(connectionError(Object.assign(new Error('TLS handshake timed out'), { code: 'ETIMEDOUT' }), url, false));
    });
    socket.once('error', (err) => reject(connectionError(err, url, false)));
  });
}

/** Wraps DER bytes as a PEM `CERTIFICATE` block with 64-character lines. */
export function derToPem(der: Buffer): string {
  const base64 = der.toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
