/**
 * A bootstrap token carries everything a worker needs to reach a controller: the service account, its token and,
 * for self-signed controllers, the certificate to pin (orchard.md §5.1, Grove's prefix).
 * Form: `grove-bootstrap-token-v0.<b64url name>.<b64url token>[.<b64url PEM certificate>]`.
 */
export interface BootstrapToken {
  serviceAccountName: string;
  serviceAccountToken: string;
  certificatePem?: string;
}

const PREFIX = 'grove-bootstrap-token-v0';

export function encodeBootstrapToken(token: BootstrapToken): string {
  const parts = [PREFIX, token.serviceAccountName, token.serviceAccountToken].map((p, i) =>
    i === 0 ? p : Buffer.from(p, 'utf8').toString('base64url'),
  );
  if (token.certificatePem) {
    parts.push(Buffer.from(token.certificatePem, 'utf8').toString('base64url'));
  }
  return parts.join('.');
}

export function decodeBootstrapToken(text: string): BootstrapToken {
  const parts = text.trim().split('.');
  if (parts[0] !== PREFIX || parts.length < 3 || parts.length > 4) {
    throw new Error(`invalid bootstrap token: expected "${PREFIX}.<name>.<token>[.<certificate>]"`);
  }
  const decode = (part: string, what: string) => {
    if (!/^[A-Za-z0-9_-]+$/.test(part)) {
      throw new Error(`invalid bootstrap token: the ${what} is not base64url`);
    }
    return Buffer.from(part, 'base64url').toString('utf8');
  };
  const token: BootstrapToken = {
    serviceAccountName: decode(parts[1], 'service account name'),
    serviceAccountToken: decode(parts[2], 'service account token'),
  };
  if (parts[3] !== undefined) {
    token.certificatePem = decode(parts[3], 'certificate');
    if (!token.certificatePem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new Error('invalid bootstrap token: the certificate is not a PEM certificate');
    }
  }
  return token;
}
