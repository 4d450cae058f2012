import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const SCRYPT_KEYLEN = 32;
const SCRYPT_OPTIONS = { N: 16384, r: 8, p: 1 };

function scryptAsync(token: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(token, salt, SCRYPT_KEYLEN, SCRYPT_OPTIONS, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes a service-account token for storage: `scrypt$<salt>$<hash>` (base64). */
export async function hashToken(token: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(token, salt);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

async function verifyScrypt(token: string, stored: string): Promise<boolean> {
  const [scheme, saltText, hashText] = stored.split('$');
  if (scheme !== 'scrypt' || !saltText || !hashText) {
    return false;
  }
  const expected = Buffer.from(hashText, 'base64');
  const actual = await scryptAsync(token, Buffer.from(saltText, 'base64'));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Verifies tokens against stored scrypt hashes. scrypt costs tens of milliseconds by design, too much for every
 * API request, so a successful check is remembered as SHA-256(stored hash, token) for a while; a changed stored hash
 * (token rotated) never matches the remembered entry.
 */
export class TokenVerifier {
  private readonly verified = new Map<string, number>();

  constructor(
    private readonly ttlMs = 5 * 60_000,
    private readonly maxEntries = 10_000,
  ) {}

  async verify(token: string, stored: string): Promise<boolean> {
    const key = createHash('sha256').update(stored).update('\0').update(token).digest('base64');
    const until = this.verified.get(key);
    const now = Date.now();
    if (until !== undefined && until > now) {
      return true;
    }
    const ok = await verifyScrypt(token, stored);
    if (ok) {
      if (this.verified.size >= this.maxEntries) {
        this.verified.clear();
      }
      this.verified.set(key, now + this.ttlMs);
    }
    return ok;
  }
}

/** A new random token: 32 bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}
