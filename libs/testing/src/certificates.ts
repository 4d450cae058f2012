import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface OpensslCertificate {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

/**
 * A throwaway self-signed ECDSA certificate made by the machine's openssl (an independent implementation, so tests
 * of Grove's own certificate code do not check it against itself). Files are written into `dir`.
 */
export function opensslCertificate(
  dir: string,
  name: string,
  options: { curve?: 'P-256' | 'P-384'; subjectAltName?: string } = {},
): OpensslCertificate {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${options.curve ?? 'P-384'}`];
  args.push('-nodes', '-subj', `/CN=${name}`, '-days', '2', '-keyout', keyFile, '-out', certFile);
  if (options.subjectAltName) {
    args.push('-addext', `subjectAltName=${options.subjectAltName}`);
  }
  execFileSync('openssl', args, { stdio: 'pipe' });
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}
