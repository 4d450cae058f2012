import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a preview token grants: HTTP to one port of one VM (by uid: not a later VM of the same name) until it expires. */
export interface PreviewClaims {
  vm: string;
  uid: string;
  port: number;
  /** The service account that made it, for the audit records of its sessions. */
  account: string;
  /** Unix milliseconds. */
  expiresAt: number;
}

export type PreviewTokenCheck = { claims: PreviewClaims } | { problem: 'invalid' | 'expired' };

const sign = (key: Buffer, payload: string) => createHmac('sha256', key).update(payload).digest();

/**
 * `<payload>.<signature>`: base64url of the claims as compact JSON, and of their HMAC-SHA256 under `key` (the
 * cluster's preview key, the same on every replica). Readable, not secret: it names a VM and a port, and grants only
 * what its signature proves.
 */
export function signPreviewToken(key: Buffer, claims: PreviewClaims): string {
  const payload = Buffer.from(
    JSON.stringify({ v: claims.vm, u: claims.uid, p: claims.port, a: claims.account, e: claims.expiresAt }),
  ).toString('base64url');
  return `${payload}.${sign(key, payload).toString('base64url')}`;
}

/** The token's claims when `key` signed it and it has not expired at `now`. */
export function checkPreviewToken(key: Buffer, token: string, now: number): PreviewTokenCheck {
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) {
    return { problem: 'invalid' };
  }
  const expected = sign(key, match[1]);
  const given = Buffer.from(match[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { problem: 'invalid' };
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { problem: 'invalid' };
  }
  const { v, u, p, a, e } = raw;
  if (typeof v !== 'string' || typeof u !== 'string' || typeof a !== 'string') {
    return { problem: 'invalid' };
  }
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535 || typeof e !== 'number') {
    return { problem: 'invalid' };
  }
  if (e <= now) {
    return { problem: 'expired' };
  }
  return { claims: { vm: v, uid: u, port: p, account: a, expiresAt: e } };
}
