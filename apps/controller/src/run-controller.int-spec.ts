import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@grove/testing';
import { runController, type RunningController } from './run-controller';
import { basic, testConfig } from './test-support/test-controller';

const AUTH = basic('bootstrap-admin', 'run-controller-token');

async function call(ctl: RunningController, method: string, url: string, body?: unknown) {
  const res = await ctl.app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: AUTH, ...(body ? { 'content-type': 'application/json' } : {}) },
    payload: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
}

/** A GET over real TLS that trusts only `ca` and checks the name grove-controller, as CLI contexts do. */
function pinnedGet(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername: 'grove-controller', headers: { authorization: AUTH } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('runController', () => {
  let dataDir: string;
  const lines: string[] = [];
  const out = (line: string) => lines.push(line);

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'grove-ctl-'));
    lines.length = 0;
  });
  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  // The embedded database (PGlite) cannot load inside Jest's module sandbox; e2e/src/embedded-database.e2e-spec.ts
  // covers it with a real controller process.
  it('keeps data across restarts and serves TLS with a certificate clients can pin', async () => {
    const db = await createTestDatabase();
    const config = testConfig({
      dataDir,
      databaseUrl: db.url,
      insecureNoTls: false,
      bootstrapAdminToken: 'run-controller-token',
    });
    let ctl = await runController(config, out);
    try {
      expect(ctl.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(ctl.fingerprint).toMatch(/^([0-9A-F]{2} ){31}[0-9A-F]{2}$/);
      expect(lines.join('\n')).toContain(ctl.fingerprint);
      expect((await call(ctl, 'POST', '/v1/vms', { name: 'kept', image: 'img' })).status).toBe(200);
      const certPem = readFileSync(join(dataDir, 'controller.crt'), 'utf8');
      expect(statSync(join(dataDir, 'controller.key')).mode & 0o777).toBe(0o600);
      expect(await pinnedGet(`${ctl.url}/v1/vms`, certPem)).toBe(200);
    } finally {
      await ctl.close();
    }

    lines.length = 0;
    ctl = await runController(config, out);
    try {
      const vm = await call(ctl, 'GET', '/v1/vms/kept');
      expect(vm.status).toBe(200);
      expect(vm.body.image).toBe('img');
      expect(lines.join('\n')).toMatch(/TLS certificate \(data-dir\)/);
    } finally {
      await ctl.close();
      await db.drop();
    }
  });

  describe('with GROVE_DATABASE_URL', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => {
      await db.drop();
    });

    it('uses that Postgres and prints a generated bootstrap token on first start only', async () => {
      const config = testConfig({ dataDir, databaseUrl: db.url, bootstrapAdminToken: undefined });
      const ctl = await runController(config, out);
      try {
        expect(lines.join('\n')).not.toMatch(/embedded database/);
        expect(lines.join('\n')).toMatch(/WARNING: TLS is off/);
        const tokenLine = lines.find((l) => l.startsWith('Its token (shown only now): '));
        expect(tokenLine).toBeDefined();
        const token = tokenLine!.slice('Its token (shown only now): '.length);
        const res = await ctl.app.inject({
          method: 'GET',
          url: '/v1/service-accounts',
          headers: { authorization: basic('bootstrap-admin', token) },
        });
        expect(res.statusCode).toBe(200);
      } finally {
        await ctl.close();
      }
      lines.length = 0;
      const again = await runController(config, out);
      await again.close();
      expect(lines.join('\n')).not.toMatch(/Its token/);
    });
  });
});
