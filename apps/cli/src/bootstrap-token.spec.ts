import { decodeBootstrapToken } from '@grove/resources';
import { encodeCertificate } from './config/connection';
import { saveConfig } from './config/config-file';
import { cli, json, useFakeController } from './test-support/fake-controller';
import { join } from 'node:path';

const basic = (name: string, token: string): string => `Basic ${Buffer.from(`${name}:${token}`).toString('base64')}`;

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

describe('grove get bootstrap-token', () => {
  const t = useFakeController();

  it('builds the token from --token after checking that it authenticates as the account', async () => {
    t.fake.route = (_req, res) => json(res, 200, { version: '0.1.0', capabilities: [] });
    const result = await cli(t.env, 'get', 'bootstrap-token', 'workers', '--token', 'w-token');

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.endsWith('\n')).toBe(true);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(decodeBootstrapToken(result.stdout)).toEqual({
      serviceAccountName: 'workers',
      serviceAccountToken: 'w-token',
    });
    expect(t.fake.requests).toEqual([
      expect.objectContaining({
        method: 'GET',
        url: '/v1/controller/info',
        authorization: basic('workers', 'w-token'),
      }),
    ]);
  });

  it('refuses a --token the controller does not accept', async () => {
    t.fake.route = (_req, res) => json(res, 401, { message: 'invalid service account name or token' });
    const result = await cli(t.env, 'get', 'bootstrap-token', 'workers', '--token', 'wrong');

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `Error: the controller at ${t.fake.url} does not accept this token for service account "workers" (controller ` +
        'answered 401: invalid service account name or token); check --token, or use --rotate to give the account ' +
        'a new one\n',
    );
  });

  it("uses the context's own token for its own account, without asking the controller", async () => {
    const result = await cli(t.env, 'get', 'bootstrap-token', 'admin');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(decodeBootstrapToken(result.stdout)).toEqual({ serviceAccountName: 'admin', serviceAccountToken: 'secret' });
    expect(t.fake.requests).toEqual([]);
  });

  it('embeds the pinned certificate of the context', async () => {
    saveConfig(join(t.home.dir, 'config.yml'), {
      defaultContext: 'lab',
      contexts: {
        lab: {
          url: t.fake.url,
          certificate: encodeCertificate(PEM),
          serviceAccountName: 'admin',
          serviceAccountToken: 'secret',
        },
      },
    });
    const result = await cli({ GROVE_HOME: t.home.dir }, 'get', 'bootstrap-token', 'admin');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(decodeBootstrapToken(result.stdout)).toEqual({
      serviceAccountName: 'admin',
      serviceAccountToken: 'secret',
      certificatePem: PEM,
    });
  });

  it('rotates with --rotate: a new random token, the same roles, and a warning on stderr', async () => {
    t.fake.route = (req, res) =>
      req.method === 'GET'
        ? json(res, 200, {
            name: 'workers',
            roles: ['compute:read', 'compute:write'],
            createdAt: '2026-01-01T00:00:00Z',
          })
        : json(res, 200, req.body);
    const first = await cli(t.env, 'get', 'bootstrap-token', 'workers', '--rotate');
    const second = await cli(t.env, 'get', 'bootstrap-token', 'workers', '--rotate');

    expect(first.code).toBe(0);
    expect(t.fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1/service-accounts/workers',
      'PUT /v1/service-accounts/workers',
      'GET /v1/service-accounts/workers',
      'PUT /v1/service-accounts/workers',
    ]);
    const decoded = decodeBootstrapToken(first.stdout);
    expect(t.fake.requests[1]).toMatchObject({
      authorization: basic('admin', 'secret'),
      body: { name: 'workers', roles: ['compute:read', 'compute:write'], token: decoded.serviceAccountToken },
    });
    expect(decoded.serviceAccountToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(decodeBootstrapToken(second.stdout).serviceAccountToken).not.toBe(decoded.serviceAccountToken);
    expect(first.stderr).toContain('Warning: service account "workers" has a new token');
    expect(first.stderr).toContain('can no longer authenticate');
  });

  it('names both ways out when the token cannot be known', async () => {
    const result = await cli(t.env, 'get', 'bootstrap-token', 'workers');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot read the token of service account "workers" back');
    expect(result.stderr).toContain('--token TOKEN');
    expect(result.stderr).toContain('--rotate');
    expect(t.fake.requests).toEqual([]);
  });

  it('refuses --token with --rotate', async () => {
    const result = await cli(t.env, 'get', 'bootstrap-token', 'workers', '--token', 't', '--rotate');
    expect(result).toMatchObject({ code: 2, stderr: 'Error: --token and --rotate cannot be combined\n' });
  });

  it('reports a missing account when rotating', async () => {
    t.fake.route = (_req, res) => json(res, 404, { message: 'service account "ghost" not found' });
    const result = await cli(t.env, 'get', 'bootstrap-token', 'ghost', '--rotate');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('Error: controller answered 404: service account "ghost" not found\n');
    expect(t.fake.requests.map((r) => r.method)).toEqual(['GET']);
  });
});
