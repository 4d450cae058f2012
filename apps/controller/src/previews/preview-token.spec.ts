import { randomBytes } from 'node:crypto';
import { checkPreviewToken, signPreviewToken, type PreviewClaims } from './preview-token';

describe('preview tokens', () => {
  const key = randomBytes(32);
  const claims: PreviewClaims = { vm: 'web', uid: 'uid-1', port: 8080, account: 'alice', expiresAt: 2_000_000 };

  it('give back their claims until they expire', () => {
    const token = signPreviewToken(key, claims);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(checkPreviewToken(key, token, 1_999_999)).toEqual({ claims });
    expect(checkPreviewToken(key, token, 2_000_000)).toEqual({ problem: 'expired' });
  });

  it('are refused when signed with another key, altered or malformed', () => {
    const token = signPreviewToken(key, claims);
    expect(checkPreviewToken(randomBytes(32), token, 0)).toEqual({ problem: 'invalid' });
    const [, signature] = token.split('.');
    const other = Buffer.from(JSON.stringify({ v: 'web', u: 'uid-1', p: 22, a: 'alice', e: 2_000_000 })).toString(
      'base64url',
    );
    expect(checkPreviewToken(key, `${other}.${signature}`, 0)).toEqual({ problem: 'invalid' });
    for (const bad of ['', 'abc', `${token}x`, token.replace('.', '')]) {
      expect(checkPreviewToken(key, bad, 0)).toEqual({ problem: 'invalid' });
    }
  });
});
