import 'reflect-metadata';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { certificateFingerprint } from '@grove/resources';
import { opensslCertificate } from '@grove/testing';
import { CONTROLLER_SERVER_NAME, loadOrCreateCertificate, type CertificateMaterial } from './certificate';

/** A self-signed certificate and key made by openssl; returns the two file paths. */
function opensslPair(dir: string, name: string): { cert: string; key: string } {
  const made = opensslCertificate(dir, name, { curve: 'P-256' });
  return { cert: made.certFile, key: made.keyFile };
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('loadOrCreateCertificate', () => {
  let root: string;
  let dataDir: string;
  let generated: CertificateMaterial;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'grove-tls-'));
    dataDir = join(root, 'data', 'controller');
    generated = await loadOrCreateCertificate({ dataDir });
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  describe('without user files', () => {
    it('generates a pair on first use and saves it readable by the owner only', () => {
      expect(generated.source).toBe('generated');
      expect(generated.generated).toBe(true);
      expect(readdirSync(dataDir).sort()).toEqual(['controller.crt', 'controller.key']);
      const certPath = join(dataDir, 'controller.crt');
      const keyPath = join(dataDir, 'controller.key');
      expect(readFileSync(certPath, 'utf8')).toBe(generated.certPem);
      expect(readFileSync(keyPath, 'utf8')).toBe(generated.keyPem);
      expect(modeOf(certPath)).toBe(0o600);
      expect(modeOf(keyPath)).toBe(0o600);
      expect(modeOf(dataDir) & 0o077).toBe(0);
    });

    it('makes an ECDSA P-384 certificate for grove-controller, valid for years', () => {
      const cert = new X509Certificate(generated.certPem);
      const key: KeyObject = cert.publicKey;
      expect(key.asymmetricKeyType).toBe('ec');
      expect(key.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
      expect(CONTROLLER_SERVER_NAME).toBe('grove-controller');
      expect(cert.subjectAltName?.split(', ')).toContain('DNS:grove-controller');
      expect(cert.checkHost('grove-controller')).toBe('grove-controller');
      expect(cert.subject).toContain('CN=Grove Controller');
      expect(cert.checkPrivateKey(createPrivateKey(generated.keyPem))).toBe(true);
      expect(cert.verify(cert.publicKey)).toBe(true);
      const now = Date.now();
      const day = 24 * 3600 * 1000;
      expect(Date.parse(cert.validFrom)).toBeLessThanOrEqual(now);
      const validDays = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / day;
      expect(validDays).toBeGreaterThanOrEqual(3652);
      expect(validDays).toBeLessThanOrEqual(3653);
    });

    it('also names localhost and 127.0.0.1, so that curl --cacert works on the controller host', () => {
      const cert = new X509Certificate(generated.certPem);
      expect(cert.subjectAltName?.split(', ').sort()).toEqual(
        ['DNS:grove-controller', 'DNS:localhost', 'IP Address:127.0.0.1'].sort(),
      );
      expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    });

    it('is a leaf for server and client authentication, with a random serial', async () => {
      const parsed = new x509.X509Certificate(generated.certPem);
      const usage = parsed.getExtension(x509.KeyUsagesExtension);
      expect(usage?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
      expect(usage?.critical).toBe(true);
      const extended = parsed.getExtension(x509.ExtendedKeyUsageExtension);
      expect(extended?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
      expect(parsed.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
      const other = await loadOrCreateCertificate({ dataDir: join(root, 'serial') });
      const serials = [generated, other].map((m) => new X509Certificate(m.certPem).serialNumber);
      expect(serials[0]).not.toBe(serials[1]);
      expect(serials[0].replace(/^0+/, '').length).toBeGreaterThan(8);
    });

    it('reports the fingerprint of the certificate', () => {
      expect(generated.fingerprint).toBe(certificateFingerprint(generated.certPem));
      expect(generated.fingerprint).toMatch(/^[0-9A-F]{2}( [0-9A-F]{2}){31}$/);
    });

    it('reuses the saved pair on the next start', async () => {
      const again = await loadOrCreateCertificate({ dataDir });
      expect(again.source).toBe('data-dir');
      expect(again.generated).toBe(false);
      expect(again.fingerprint).toBe(generated.fingerprint);
      expect(again.certPem).toBe(generated.certPem);
      expect(again.keyPem).toBe(generated.keyPem);
    });

    it('makes a new pair for another data dir', async () => {
      const other = await loadOrCreateCertificate({ dataDir: join(root, 'other') });
      expect(other.source).toBe('generated');
      expect(other.fingerprint).not.toBe(generated.fingerprint);
    });

    it('regenerates when half of the pair is missing, leaving both files private', async () => {
      const dir = join(root, 'half');
      await loadOrCreateCertificate({ dataDir: dir });
      rmSync(join(dir, 'controller.key'));
      writeFileSync(join(dir, 'controller.crt'), 'stale', { mode: 0o644 });
      const fresh = await loadOrCreateCertificate({ dataDir: dir });
      expect(fresh.source).toBe('generated');
      expect(modeOf(join(dir, 'controller.crt'))).toBe(0o600);
      expect(modeOf(join(dir, 'controller.key'))).toBe(0o600);
      const saved = new X509Certificate(readFileSync(join(dir, 'controller.crt')));
      expect(saved.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'controller.key'))))).toBe(true);
    });

    it('replaces a leftover temporary file from an interrupted write, keeping the key private', async () => {
      const dir = join(root, 'interrupted');
      await loadOrCreateCertificate({ dataDir: dir });
      rmSync(join(dir, 'controller.crt'));
      writeFileSync(join(dir, 'controller.key.tmp'), 'half a key', { mode: 0o644 });
      const fresh = await loadOrCreateCertificate({ dataDir: dir });
      expect(fresh.generated).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['controller.crt', 'controller.key']);
      expect(modeOf(join(dir, 'controller.key'))).toBe(0o600);
      expect(readFileSync(join(dir, 'controller.key'), 'utf8')).toBe(fresh.keyPem);
    });

    it('refuses a broken saved pair, naming the file', async () => {
      const dir = join(root, 'broken');
      await loadOrCreateCertificate({ dataDir: dir });
      writeFileSync(join(dir, 'controller.crt'), 'garbage');
      const err = await rejection(loadOrCreateCertificate({ dataDir: dir }));
      expect(err.message).toBe(`${join(dir, 'controller.crt')}: the file is not a valid PEM X.509 certificate`);
    });
  });

  describe('with --tls-cert and --tls-key', () => {
    let user: { cert: string; key: string };
    let other: { cert: string; key: string };

    beforeAll(() => {
      user = opensslPair(root, 'user');
      other = opensslPair(root, 'other');
    });

    it('uses the user’s pair, not the data dir’s', async () => {
      const material = await loadOrCreateCertificate({ dataDir, certFile: user.cert, keyFile: user.key });
      expect(material.source).toBe('user');
      expect(material.generated).toBe(false);
      expect(material.certPem).toBe(readFileSync(user.cert, 'utf8'));
      expect(material.keyPem).toBe(readFileSync(user.key, 'utf8'));
      expect(material.fingerprint).toBe(certificateFingerprint(readFileSync(user.cert, 'utf8')));
      expect(material.fingerprint).not.toBe(generated.fingerprint);
    });

    it.each([
      ['--tls-cert alone', { certFile: 'c.pem' }, '--tls-cert was given without --tls-key'],
      ['--tls-key alone', { keyFile: 'k.pem' }, '--tls-key was given without --tls-cert'],
    ])('refuses %s', async (_case, files, message) => {
      const err = await rejection(loadOrCreateCertificate({ dataDir, ...files }));
      expect(err.message).toBe(message);
    });

    it('refuses a key that does not belong to the certificate', async () => {
      const err = await rejection(loadOrCreateCertificate({ dataDir, certFile: user.cert, keyFile: other.key }));
      expect(err.message).toBe(
        `--tls-key ${other.key}: the private key does not belong to the certificate --tls-cert ${user.cert}`,
      );
    });

    it('refuses a certificate file that holds no certificate', async () => {
      const err = await rejection(loadOrCreateCertificate({ dataDir, certFile: user.key, keyFile: user.key }));
      expect(err.message).toBe(`--tls-cert ${user.key}: the file is not a valid PEM X.509 certificate`);
    });

    it('refuses a key file that holds no key', async () => {
      const err = await rejection(loadOrCreateCertificate({ dataDir, certFile: user.cert, keyFile: user.cert }));
      expect(err.message).toBe(`--tls-key ${user.cert}: the file is not a valid PEM private key`);
    });

    it('refuses a missing file, naming the flag', async () => {
      const missing = join(root, 'missing.crt');
      const err = await rejection(loadOrCreateCertificate({ dataDir, certFile: missing, keyFile: user.key }));
      expect(err.message.startsWith(`--tls-cert ${missing}: cannot read the file: `)).toBe(true);
      expect(err.message).toContain('ENOENT');
    });
  });

  describe('serving HTTPS with the generated pair', () => {
    let server: Server;
    let port: number;

    beforeAll(async () => {
      server = createServer({ cert: generated.certPem, key: generated.keyPem }, (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hello');
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      port = (server.address() as AddressInfo).port;
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    function get(options: { ca?: string; servername?: string }): Promise<string> {
      return new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/', agent: false, ...options }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve(body));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    }

    it('is reachable by a client that trusts only that certificate, as grove-controller', async () => {
      await expect(get({ ca: generated.certPem, servername: CONTROLLER_SERVER_NAME })).resolves.toBe('hello');
    });

    it('is refused by a client with the default trust store', async () => {
      const err = await rejection(get({ servername: CONTROLLER_SERVER_NAME }));
      expect((err as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
    });

    it('is refused by a client that trusts another certificate', async () => {
      const other = opensslPair(root, 'impostor');
      const err = await rejection(get({ ca: readFileSync(other.cert, 'utf8'), servername: CONTROLLER_SERVER_NAME }));
      expect((err as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
    });

    it('is refused under a name the certificate does not carry', async () => {
      const err = await rejection(get({ ca: generated.certPem, servername: 'example.test' }));
      expect((err as NodeJS.ErrnoException).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    });
  });
});
