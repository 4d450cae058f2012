import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestController } from '../test-support/test-controller';

/** The web console's files at `/ui/` (issue 16): public, cached by name, a strict CSP, nothing outside its directory. */
describe('web console files', () => {
  let dir: string;
  let ctl: TestController;
  let unbuilt: TestController;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'grove-console-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Grove</title><script src="app.js"></script>');
    writeFileSync(join(dir, 'app.js'), 'console.log("grove")');
    writeFileSync(join(dir, 'app.css'), 'body{}');
    writeFileSync(join(dir, 'chunk-5KJ2NMXG.js'), 'export {}');
    writeFileSync(join(dir, '.secret'), 'outside-content');
    mkdirSync(join(dir, 'fonts'));
    writeFileSync(join(dir, 'fonts', 'mono.woff2'), 'woff2');
    writeFileSync(join(dir, '..', 'grove-console-outside.txt'), 'outside-content');
    [ctl, unbuilt] = await Promise.all([
      TestController.start({ consoleDir: dir }),
      TestController.start({ consoleDir: join(dir, 'missing') }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([ctl?.close(), unbuilt?.close()]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(dir, '..', 'grove-console-outside.txt'), { force: true });
  });

  it('redirects / and /ui to /ui/', async () => {
    for (const url of ['/', '/ui']) {
      const res = await ctl.request('GET', url, { auth: null });
      expect(res.status).toBe(302);
      expect(res.headers['location']).toBe('/ui/');
    }
  });

  it('serves index.html at /ui/ without credentials, revalidated, with a same-origin CSP', async () => {
    const res = await ctl.request('GET', '/ui/', { auth: null });
    expect(res.status).toBe(200);
    expect(res.body).toContain('<title>Grove</title>');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/https?:/);
    const again = await ctl.app.inject({
      method: 'GET',
      url: '/ui/',
      headers: { 'if-none-match': String(res.headers['etag']) },
    });
    expect(again.statusCode).toBe(304);
  });

  it('serves assets with their content type; hashed names are cached for a year', async () => {
    const js = await ctl.request('GET', '/ui/app.js', { auth: null });
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('no-cache');
    const css = await ctl.request('GET', '/ui/app.css', { auth: null });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const hashed = await ctl.request('GET', '/ui/chunk-5KJ2NMXG.js', { auth: null });
    expect(hashed.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const font = await ctl.request('GET', '/ui/fonts/mono.woff2', { auth: null });
    expect(font.status).toBe(200);
    expect(font.headers['content-type']).toBe('font/woff2');
  });

  it('lists no directory and reaches nothing outside the console directory', async () => {
    for (const url of [
      '/ui/fonts',
      '/ui/fonts/',
      '/ui/.secret',
      '/ui/../grove-console-outside.txt',
      '/ui/%2e%2e/grove-console-outside.txt',
      '/ui/fonts/%2e%2e%2f%2e%2e%2fgrove-console-outside.txt',
      '/ui/..%5cgrove-console-outside.txt',
      '/ui/fonts%2Fmono.woff2',
      '/ui/missing.js',
    ]) {
      const res = await ctl.request('GET', url, { auth: null });
      expect([url, res.status]).toEqual([url, 404]);
      expect(JSON.stringify(res.body)).not.toContain('outside-content');
    }
  });

  it('says how to build the console when it was not built', async () => {
    const res = await unbuilt.request('GET', '/ui/', { auth: null });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toContain('node apps/console/build.mjs');
  });

  it('leaves the API as it was: /v1/ still needs credentials', async () => {
    expect((await ctl.request('GET', '/v1/vms', { auth: null })).status).toBe(401);
    expect((await ctl.request('GET', '/v1/', { auth: null })).status).toBe(200);
  });

  it('GET /v1/session names the calling account and its roles', async () => {
    const reader = await ctl.createAccount('console-reader', ['compute:read']);
    expect((await ctl.request('GET', '/v1/session', { auth: reader })).body).toEqual({
      name: 'console-reader',
      roles: ['compute:read'],
    });
    const admin = await ctl.request('GET', '/v1/session');
    expect(admin.status).toBe(200);
    expect(admin.body.name).toBe('bootstrap-admin');
    expect(admin.body.roles).toContain('admin:write');
    expect((await ctl.request('GET', '/v1/session', { auth: null })).status).toBe(401);
  });
});
