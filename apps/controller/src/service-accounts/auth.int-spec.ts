import { ROLES } from '@grove/resources';
import { ServiceAccountService } from './service-account.service';
import { ADMIN, basic, TestController } from '../test-support/test-controller';

describe('authentication, roles and service accounts', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start();
  });
  afterAll(async () => {
    await ctl.close();
  });

  describe('credentials', () => {
    const protectedEndpoints: [method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string][] = [
      ['GET', '/v1/vms'],
      ['POST', '/v1/vms'],
      ['GET', '/v1/workers'],
      ['GET', '/v1/service-accounts'],
      ['GET', '/v1/cluster-settings'],
      ['PUT', '/v1/cluster-settings'],
      ['GET', '/v1/controller/info'],
      ['DELETE', '/v1/vms/x'],
    ];

    it.each(protectedEndpoints)('%s %s without credentials is 401', async (method, url) => {
      const res = await ctl.request(method, url, { auth: null, body: method === 'GET' ? undefined : {} });
      expect(res.status).toBe(401);
      expect(res.body.message).toMatch(/authentication required/);
    });

    it('GET /v1/ is public, even with bad credentials', async () => {
      expect((await ctl.request('GET', '/v1/', { auth: null })).status).toBe(200);
      expect((await ctl.request('GET', '/v1/', { auth: basic('nobody', 'wrong') })).status).toBe(200);
    });

    it('a wrong token or an unknown account is 401', async () => {
      const wrongToken = await ctl.request('GET', '/v1/vms', { auth: basic('bootstrap-admin', 'not-the-token') });
      expect(wrongToken.status).toBe(401);
      expect(wrongToken.body.message).toBe('invalid service account name or token');
      expect((await ctl.request('GET', '/v1/vms', { auth: basic('ghost', 'whatever') })).status).toBe(401);
      expect((await ctl.request('GET', '/v1/vms', { auth: 'Basic !!!' })).status).toBe(401);
    });

    it('controller info needs a valid account but no role', async () => {
      const noRoles = await ctl.createAccount('no-roles', []);
      const res = await ctl.request('GET', '/v1/controller/info', { auth: noRoles });
      expect(res.status).toBe(200);
      expect(res.body.capabilities).toContain('vm-state-endpoint');
      expect(typeof res.body.version).toBe('string');
    });
  });

  describe('roles', () => {
    it('missing roles are 403 with Orchard’s message', async () => {
      const reader = await ctl.createAccount('reader', ['compute:read']);
      const res = await ctl.request('POST', '/v1/vms', { auth: reader, body: { name: 'v', image: 'i' } });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ message: 'all of the following roles must be present: compute:write' });
      expect((await ctl.request('GET', '/v1/vms', { auth: reader })).status).toBe(200);
      expect((await ctl.request('GET', '/v1/service-accounts', { auth: reader })).status).toBe(403);
    });

    it('compute:connect alone cannot create VMs or read admin data', async () => {
      const connect = await ctl.createAccount('connector', ['compute:connect']);
      expect((await ctl.request('POST', '/v1/vms', { auth: connect, body: { name: 'v', image: 'i' } })).status).toBe(
        403,
      );
      expect((await ctl.request('GET', '/v1/cluster-settings', { auth: connect })).status).toBe(403);
    });

    it('admin:read can read but not write service accounts', async () => {
      const auditor = await ctl.createAccount('auditor', ['admin:read']);
      expect((await ctl.request('GET', '/v1/service-accounts', { auth: auditor })).status).toBe(200);
      const res = await ctl.request('POST', '/v1/service-accounts', { auth: auditor, body: { name: 'x', roles: [] } });
      expect(res.status).toBe(403);
      expect(res.body.message).toBe('all of the following roles must be present: admin:write');
    });
  });

  describe('service accounts', () => {
    it('creates with a generated token that is shown once and works', async () => {
      const res = await ctl.request('POST', '/v1/service-accounts', { body: { name: 'ci', roles: ['compute:read'] } });
      expect(res.status).toBe(200);
      expect(res.body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(res.body.roles).toEqual(['compute:read']);
      expect((await ctl.request('GET', '/v1/vms', { auth: basic('ci', res.body.token) })).status).toBe(200);

      const fetched = await ctl.request('GET', '/v1/service-accounts/ci');
      expect(fetched.status).toBe(200);
      expect(fetched.body).not.toHaveProperty('token');
      const listed = await ctl.request('GET', '/v1/service-accounts');
      expect(listed.body.every((sa: object) => !('token' in sa))).toBe(true);
    });

    it('stores tokens hashed, never in clear', async () => {
      await ctl.request('POST', '/v1/service-accounts', {
        body: { name: 'hashed', token: 'plain-secret-1', roles: [] },
      });
      const rows: { token_hash: string }[] = await ctl.dataSource.query(
        `SELECT token_hash FROM service_accounts WHERE name = 'hashed'`,
      );
      expect(rows[0].token_hash).toMatch(/^scrypt\$/);
      expect(rows[0].token_hash).not.toContain('plain-secret-1');
    });

    it('rejects duplicates, unknown roles and bad names, listing every problem', async () => {
      await ctl.request('POST', '/v1/service-accounts', { body: { name: 'dup', roles: [] } });
      const dup = await ctl.request('POST', '/v1/service-accounts', { body: { name: 'dup', roles: [] } });
      expect(dup.status).toBe(409);
      expect(dup.body.message).toBe('service account with this name already exists');

      const bad = await ctl.request('POST', '/v1/service-accounts', { body: { name: 'bad name!', roles: ['foo'] } });
      expect(bad.status).toBe(400);
      const fields = bad.body.errors.map((e: { field: string }) => e.field);
      expect(fields).toEqual(expect.arrayContaining(['name', 'roles']));
      expect(bad.body.message).toMatch(/roles/);
    });

    it('PUT needs a token, rotates it and returns the new one once', async () => {
      const created = await ctl.request('POST', '/v1/service-accounts', {
        body: { name: 'rot', roles: ['compute:read'] },
      });
      const empty = await ctl.request('PUT', '/v1/service-accounts/rot', {
        body: { name: 'rot', roles: [], token: '' },
      });
      expect(empty.status).toBe(400);
      expect(empty.body.errors[0].field).toBe('token');

      const rotated = await ctl.request('PUT', '/v1/service-accounts/rot', {
        body: { name: 'rot', roles: ['compute:read', 'compute:write'], token: 'new-token-123' },
      });
      expect(rotated.status).toBe(200);
      expect(rotated.body.token).toBe('new-token-123');
      expect(rotated.body.roles).toEqual(['compute:read', 'compute:write']);
      expect((await ctl.request('GET', '/v1/vms', { auth: basic('rot', created.body.token) })).status).toBe(401);
      expect((await ctl.request('GET', '/v1/vms', { auth: basic('rot', 'new-token-123') })).status).toBe(200);

      const missing = await ctl.request('PUT', '/v1/service-accounts/ghost', {
        body: { name: 'ghost', roles: [], token: 'x' },
      });
      expect(missing.status).toBe(404);
    });

    it('deletes, and a deleted account can no longer log in', async () => {
      const auth = await ctl.createAccount('gone', ['compute:read']);
      expect((await ctl.request('DELETE', '/v1/service-accounts/gone')).status).toBe(200);
      expect((await ctl.request('GET', '/v1/vms', { auth })).status).toBe(401);
      expect((await ctl.request('DELETE', '/v1/service-accounts/gone')).status).toBe(404);
    });
  });

  describe('bootstrap admin', () => {
    it('has every role and the configured token on every start', async () => {
      const admin = await ctl.request('GET', '/v1/service-accounts/bootstrap-admin');
      expect(admin.body.roles).toEqual([...ROLES]);

      const service = ctl.app.get(ServiceAccountService);
      await service.bootstrap('second-token-abc');
      expect((await ctl.request('GET', '/v1/vms', { auth: basic('bootstrap-admin', 'second-token-abc') })).status).toBe(
        200,
      );
      expect((await ctl.request('GET', '/v1/vms', { auth: ADMIN })).status).toBe(401);
      // Without a configured token and with accounts present, nothing is created or changed.
      expect(await service.bootstrap(undefined)).toBeUndefined();
      await service.bootstrap('admin-token-for-tests');
    });
  });

  it('first start without a configured token generates one for bootstrap-admin', async () => {
    const fresh = await TestController.start({ bootstrapAdminToken: undefined });
    try {
      expect(fresh.bootstrap?.generated).toBe(true);
      const auth = basic('bootstrap-admin', fresh.bootstrap!.token);
      expect((await fresh.request('GET', '/v1/service-accounts', { auth })).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });

  describe('failed-login throttle', () => {
    it('refuses an address after repeated failures, even with good credentials', async () => {
      const throttled = await TestController.start();
      try {
        for (let i = 0; i < 20; i++) {
          expect(
            (await throttled.request('GET', '/v1/vms', { auth: basic('bootstrap-admin', `guess-${i}`) })).status,
          ).toBe(401);
        }
        const res = await throttled.request('GET', '/v1/vms', { auth: ADMIN });
        expect(res.status).toBe(429);
        expect(res.body.message).toMatch(/too many failed logins/);
      } finally {
        await throttled.close();
      }
    });
  });
});
