import { hasRoles, missingRolesMessage, parseBasicAuth } from './auth.guard';
import { LoginThrottle } from './login-throttle';
import { generateToken, hashToken, TokenVerifier } from './token-hash';

describe('HTTP Basic parsing', () => {
  const header = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

  it('splits at the first colon, so tokens may contain colons', () => {
    expect(parseBasicAuth(header('ci:a:b'))).toEqual({ name: 'ci', token: 'a:b' });
    expect(parseBasicAuth(header('ci:'))).toEqual({ name: 'ci', token: '' });
  });

  it.each([undefined, '', 'Bearer abc', 'Basic', 'Basic !!!', header('no-colon')])('ignores %p', (value) => {
    expect(parseBasicAuth(value)).toBeUndefined();
  });
});

describe('roles', () => {
  it('checks all or any of the roles and words the refusal like Orchard', () => {
    const account = { roles: ['compute:read' as const] };
    expect(hasRoles(account, { kind: 'all', roles: ['compute:read', 'compute:write'] })).toBe(false);
    expect(hasRoles(account, { kind: 'any', roles: ['compute:read', 'compute:write'] })).toBe(true);
    expect(missingRolesMessage({ kind: 'any', roles: ['compute:write', 'compute:connect'] })).toBe(
      'any of the following roles must be present: compute:write, compute:connect',
    );
  });

  it('checks one role besides one of several, and names both in the refusal', () => {
    const rule = {
      kind: 'all-and-any' as const,
      all: ['host-process:connect' as const],
      any: ['compute:write' as const, 'compute:connect' as const],
    };
    expect(hasRoles({ roles: ['host-process:connect', 'compute:connect'] }, rule)).toBe(true);
    expect(hasRoles({ roles: ['host-process:connect'] }, rule)).toBe(false);
    expect(hasRoles({ roles: ['compute:write', 'compute:connect'] }, rule)).toBe(false);
    expect(missingRolesMessage(rule)).toBe(
      'all of the following roles must be present: host-process:connect, and any of the following: compute:write, ' +
        'compute:connect',
    );
  });
});

describe('token hashing', () => {
  it('verifies the right token only, and a rotated hash never matches a remembered token', async () => {
    const verifier = new TokenVerifier();
    const stored = await hashToken('secret-1');
    expect(stored).not.toContain('secret-1');
    expect(await verifier.verify('secret-1', stored)).toBe(true);
    expect(await verifier.verify('secret-1', stored)).toBe(true);
    expect(await verifier.verify('secret-2', stored)).toBe(false);
    const rotated = await hashToken('secret-1');
    expect(rotated).not.toBe(stored);
    expect(await verifier.verify('secret-1', rotated)).toBe(true);
    expect(await verifier.verify('x', 'garbage')).toBe(false);
  });

  it('generates distinct 43-character tokens', () => {
    const tokens = new Set(Array.from({ length: 50 }, generateToken));
    expect(tokens.size).toBe(50);
    expect([...tokens].every((t) => /^[A-Za-z0-9_-]{43}$/.test(t))).toBe(true);
  });
});

describe('LoginThrottle', () => {
  it('blocks an address after the limit until the window ends, per address', () => {
    const throttle = new LoginThrottle(3, 1000);
    for (let i = 0; i < 3; i++) {
      expect(throttle.retryAfterMs('a', 100)).toBe(0);
      throttle.recordFailure('a', 100);
    }
    expect(throttle.retryAfterMs('a', 200)).toBe(900);
    expect(throttle.retryAfterMs('b', 200)).toBe(0);
    expect(throttle.retryAfterMs('a', 1100)).toBe(0);
    throttle.recordFailure('a', 1100);
    expect(throttle.retryAfterMs('a', 1101)).toBe(0);
  });
});
