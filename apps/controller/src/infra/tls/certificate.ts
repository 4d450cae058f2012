import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { certificateFingerprint } from '@grove/resources';

export interface CertificateMaterial {
  certPem: string;
  keyPem: string;
  fingerprint: string;
  source: 'user' | 'data-dir' | 'generated';
}

/** The DNS name clients verify, whatever address they dial (contexts and bootstrap tokens pin the certificate). */
export const CONTROLLER_SERVER_NAME = 'grove-controller';

const CERT_FILE = 'controller.crt';
const KEY_FILE = 'controller.key';
const VALIDITY_YEARS = 10;

function checkPair(certPem: string, keyPem: string, where: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${where}: the certificate is not a valid PEM X.509 certificate`, { cause: err });
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`${where}: the key is not a valid PEM private key`, { cause: err });
  }
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert)) {
    throw new Error(`${where}: the private key does not belong to the certificate`);
  }
}

async function generate(): Promise<{ certPem: string; keyPem: string }> {
  const crypto = webcrypto;
  x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore);
  notAfter.setFullYear(notAfter.getFullYear() + VALIDITY_YEARS);
  const serial = Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
  serial[0] &= 0x7f; // a positive serial number
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: 'CN=Grove Controller',
    notBefore,
    notAfter,
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: CONTROLLER_SERVER_NAME },
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  return { certPem: cert.toString('pem'), keyPem };
}

/**
 * The controller's TLS certificate: the user's pair (`--tls-cert/--tls-key`), else the one kept in the data dir,
 * else a new self-signed ECDSA P-384 certificate for `grove-controller`, valid ten years, saved with mode 0600.
 */
export async function loadOrCreateCertificate(options: {
  dataDir: string;
  certFile?: string;
  keyFile?: string;
}): Promise<CertificateMaterial> {
  if (options.certFile !== undefined || options.keyFile !== undefined) {
    if (options.certFile === undefined) {
      throw new Error('--tls-key was given without --tls-cert');
    }
    if (options.keyFile === undefined) {
      throw new Error('--tls-cert was given without --tls-key');
    }
    const certPem = readFileSync(options.certFile, 'utf8');
    const keyPem = readFileSync(options.keyFile, 'utf8');
    checkPair(certPem, keyPem, `--tls-cert ${options.certFile} / --tls-key ${options.keyFile}`);
    return { certPem, keyPem, fingerprint: certificateFingerprint(certPem), source: 'user' };
  }
  const certPath = join(options.dataDir, CERT_FILE);
  const keyPath = join(options.dataDir, KEY_FILE);
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, 'utf8');
    const keyPem = readFileSync(keyPath, 'utf8');
    checkPair(certPem, keyPem, `${certPath} / ${keyPath}`);
    return { certPem, keyPem, fingerprint: certificateFingerprint(certPem), source: 'data-dir' };
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const { certPem, keyPem } = await generate();
  writeFileSync(keyPath, keyPem, { mode: 0o600 });
  writeFileSync(certPath, certPem, { mode: 0o600 });
  return { certPem, keyPem, fingerprint: certificateFingerprint(certPem), source: 'generated' };
}
