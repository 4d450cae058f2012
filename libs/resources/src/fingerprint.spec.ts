import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateFingerprint } from './index';

/** A throwaway self-signed certificate made by openssl, with openssl's own idea of its SHA-256 fingerprint. */
interface OpensslCertificate {
  pem: string;
  der: Buffer;
  /** `openssl x509 -fingerprint -sha256` output, reformatted to `AB CD …`. */
  expected: string;
}

function makeCertificate(dir: string, cn: string): OpensslCertificate {
  const key = join(dir, `${cn}.key`);
  const cert = join(dir, `${cn}.crt`);
  const der = join(dir, `${cn}.der`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-384',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  execFileSync('openssl', ['x509', '-in', cert, '-outform', 'DER', '-out', der], { stdio: 'pipe' });
  const output = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', cert], {
    encoding: 'utf8',
  });
  // e.g. "sha256 Fingerprint=AB:CD:…" (the label's case differs between openssl versions)
  const match = /Fingerprint=([0-9A-F:]+)/i.exec(output);
  if (!match) {
    throw new Error(`unexpected openssl output: ${output}`);
  }
  return {
    pem: readFileSync(cert, 'utf8'),
    der: readFileSync(der),
    expected: match[1].toUpperCase().split(':').join(' '),
  };
}

describe('certificateFingerprint', () => {
  let dir: string;
  let first: OpensslCertificate;
  let second: OpensslCertificate;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'grove-fingerprint-'));
    first = makeCertificate(dir, 'first');
    second = makeCertificate(dir, 'second');
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches openssl for a PEM certificate', () => {
    expect(certificateFingerprint(first.pem)).toBe(first.expected);
  });

  it('gives the same result for the DER bytes, as a Buffer or a plain Uint8Array', () => {
    expect(certificateFingerprint(first.der)).toBe(first.expected);
    expect(certificateFingerprint(new Uint8Array(first.der))).toBe(first.expected);
  });

  it('uses Orchard’s display format: 32 uppercase hex bytes separated by single spaces', () => {
    const fingerprint = certificateFingerprint(first.pem);
    expect(fingerprint).toMatch(/^[0-9A-F]{2}( [0-9A-F]{2}){31}$/);
  });

  it('tells two certificates apart', () => {
    expect(certificateFingerprint(second.pem)).toBe(second.expected);
    expect(certificateFingerprint(second.pem)).not.toBe(certificateFingerprint(first.pem));
  });

  it('ignores text around the PEM block and CRLF line endings', () => {
    const noisy = `subject=CN = first\r\n${first.pem.replace(/\n/g, '\r\n')}\r\n`;
    expect(certificateFingerprint(noisy)).toBe(first.expected);
  });

  it('fingerprints a PEM file read as bytes as its certificate, not as text', () => {
    const bytes = readFileSync(join(dir, 'first.crt'));
    expect(certificateFingerprint(bytes)).toBe(first.expected);
  });

  it('refuses text that is not a certificate', () => {
    expect(() => certificateFingerprint('not a certificate')).toThrow();
    const key = readFileSync(join(dir, 'first.key'), 'utf8');
    expect(() => certificateFingerprint(key)).toThrow();
  });

  it('refuses bytes that are not a certificate instead of hashing them', () => {
    expect(() => certificateFingerprint(new Uint8Array([1, 2, 3]))).toThrow();
    expect(() => certificateFingerprint(first.der.subarray(0, first.der.length - 10))).toThrow();
  });
});
