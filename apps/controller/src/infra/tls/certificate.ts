// @peculiar/x509 (through tsyringe) needs the Reflect metadata API at load time; without this import, loading this
// module before anything else that happens to pull reflect-metadata in (Nest does) throws.
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { certificateFingerprint } from '@grove/resources';

export interface CertificateMaterial {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the certificate, `AB CD …`, as printed for operators to compare with what clients see. */
  fingerprint: string;
  /** True when this call made a new pair: clients that pinned the previous certificate need a new context. */
  generated: boolean;
  source: 'user' | 'data-dir' | 'generated' | 'cluster';
}

/** The DNS name clients verify, whatever address they dial (contexts and bootstrap tokens pin the certificate). */
export const CONTROLLER_SERVER_NAME = 'grove-controller';

const CERT_FILE = 'controller.crt';
const KEY_FILE = 'controller.key';
const VALIDITY_YEARS = 10;

/**
 * Writes a file readable by its owner only, through a temporary file and a rename, so that a crash half-way leaves
 * either the old file or none, never a truncated key that would stop the next start.
 */
function writePrivateFile(path: string, data: string): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, data, { mode: 0o600 });
  // `mode` applies only when a file is created; a leftover temporary file from a crash keeps its old mode otherwise.
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/** Reads one TLS file; `label` says where it came from (`--tls-cert /path` or the data-dir path). */
function readPem(path: string, label: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${label}: cannot read the file: ${(err as Error).message}`, { cause: err });
  }
}

function checkPair(certPem: string, keyPem: string, certLabel: string, keyLabel: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${certLabel}: the file is not a valid PEM X.509 certificate`, { cause: err });
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`${keyLabel}: the file is not a valid PEM private key`, { cause: err });
  }
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert)) {
    throw new Error(`${keyLabel}: the private key does not belong to the certificate ${certLabel}`);
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
    const certLabel = `--tls-cert ${options.certFile}`;
    const keyLabel = `--tls-key ${options.keyFile}`;
    const certPem = readPem(options.certFile, certLabel);
    const keyPem = readPem(options.keyFile, keyLabel);
    checkPair(certPem, keyPem, certLabel, keyLabel);
    return { certPem, keyPem, fingerprint: certificateFingerprint(certPem), generated: false, source: 'user' };
  }
  const certPath = join(options.dataDir, CERT_FILE);
  const keyPath = join(options.dataDir, KEY_FILE);
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readPem(certPath, certPath);
    const keyPem = readPem(keyPath, keyPath);
    checkPair(certPem, keyPem, certPath, keyPath);
    return { certPem, keyPem, fingerprint: certificateFingerprint(certPem), generated: false, source: 'data-dir' };
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const { certPem, keyPem } = await generate();
  // The key first: the pair is only looked for when both files exist, so a crash in between means a new pair.
  writePrivateFile(keyPath, keyPem);
  writePrivateFile(certPath, certPem);
  return { certPem, keyPem, fingerprint: certificateFingerprint(certPem), generated: true, source: 'generated' };
}
