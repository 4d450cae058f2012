import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { waitFor } from '@grove/testing';
import { FakeWorker } from '../test-support/fake-worker';
import { runningVm } from '../test-support/running-vm';
import { ADMIN, TestController } from '../test-support/test-controller';
import { WorkerGrpcServer } from '../worker-sessions/worker-grpc.server';
import { PreviewKey } from './preview-key';
import { signPreviewToken } from './preview-token';

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A request to the controller's listener, as a browser would send it. */
function fetchRaw(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path,
      method: options.method ?? 'GET',
      headers: options.headers,
    });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.end(options.body);
  });
}

/**
 * Preview links (issue 16): `POST /v1/vms/NAME/previews` and HTTP under `/preview/<token>/` through the worker's
 * tunnel to the VM port, here a fake worker whose VM port 80 is an HTTP server of this test.
 */
describe('previews', () => {
  let ctl: TestController;
  let port: number;
  let worker: FakeWorker;
  let web: Server;
  const seen: IncomingMessage[] = [];

  beforeAll(async () => {
    web = createServer((req, res) => {
      seen.push(req);
      if (req.url === '/cookies') {
        res.writeHead(200, {
          'set-cookie': [
            'session=s1; Path=/; HttpOnly',
            'pref=p; Domain=example.com; Path=/app; Max-Age=60',
            'plain=1',
          ],
          'clear-site-data': '"storage"',
        });
        res.end();
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: '/hello' }).end();
      } else if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
      } else {
        res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': "default-src 'self'" });
        res.end(`<h1>${req.url}</h1>`);
      }
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const webPort = (web.address() as AddressInfo).port;
    ctl = await TestController.start({ grpcListen: { host: '127.0.0.1', port: 0 }, schedulerIntervalMs: 60_000 });
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    port = (ctl.app.getHttpServer().address() as AddressInfo).port;
    const body = { name: 'pv-w', machine_id: 'pv-w', resources: { 'org.cirruslabs.tart-vms': 4 } };
    expect((await ctl.request('POST', '/v1/workers', { body })).status).toBe(200);
    worker = await FakeWorker.connect(`127.0.0.1:${ctl.app.get(WorkerGrpcServer).port}`, 'pv-w', ADMIN, [], {
      // VM port 80 is this test's web server; any other port refuses at once.
      target: (open) => {
        if (open.port === 80) {
          return connect(webPort, '127.0.0.1');
        }
        const refused = new PassThrough();
        setImmediate(() => refused.end());
        return refused;
      },
    });
    await runningVm(ctl, 'pv-vm', 'pv-w');
  });

  afterAll(async () => {
    worker?.close();
    await ctl?.close();
    await new Promise((resolve) => web?.close(resolve));
  });

  const preview = async (vm: string, body: unknown, auth = ADMIN) =>
    ctl.request('POST', `/v1/vms/${vm}/previews`, { body, auth });

  it('makes a link for an hour, validating the port and the roles', async () => {
    const made = await preview('pv-vm', { port: 80 });
    expect(made.status).toBe(200);
    expect(made.body.url).toMatch(/^\/preview\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}\/$/);
    const hour = Date.parse(made.body.expiresAt) - Date.now();
    expect(hour).toBeGreaterThan(59 * 60 * 1000);
    expect(hour).toBeLessThanOrEqual(60 * 60 * 1000);
    for (const bad of [{ port: 0 }, { port: 65536 }, { port: '80' }, { port: 80.5 }, {}]) {
      const res = await preview('pv-vm', bad);
      expect([bad, res.status, res.body.message]).toEqual([
        bad,
        400,
        'invalid input: port must be an integer from 1 to 65535',
      ]);
    }
    expect((await preview('pv-vm', { port: 80, extra: 1 })).status).toBe(400);
    expect((await preview('pv-none', { port: 80 })).status).toBe(404);
    const reader = await ctl.createAccount('pv-reader', ['compute:read']);
    expect((await preview('pv-vm', { port: 80 }, reader)).status).toBe(403);
    const connector = await ctl.createAccount('pv-connect', ['compute:connect']);
    expect((await preview('pv-vm', { port: 80 }, connector)).status).toBe(200);
  });

  it('proxies HTTP to the VM port: prefix stripped, query kept, no credentials forwarded, sandboxed', async () => {
    const { url } = (await preview('pv-vm', { port: 80 })).body as { url: string };
    const res = await fetchRaw(port, `${url}docs/page?q=1&r=two`, { headers: { authorization: ADMIN } });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('<h1>/docs/page?q=1&r=two</h1>');
    const got = seen[seen.length - 1];
    expect(got.headers['authorization']).toBeUndefined();
    expect(got.headers['x-forwarded-prefix']).toBe(url.slice(0, -1));
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'self', sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads",
    );
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(worker.opened[worker.opened.length - 1]).toMatchObject({ kind: 'open', port: 80 });

    // Each request is one tunnel session with its audit record, in the name of the account that made the link.
    const audits = async () =>
      ((await ctl.request('GET', '/v1/vms/pv-vm/events')).body as { kind: string; payload: string }[])
        .filter((e) => e.kind === 'audit')
        .map((e) => JSON.parse(e.payload) as Record<string, unknown>)
        .filter((a) => a['type'] === 'preview');
    const [audit] = await waitFor('the audit record', async () => {
      const found = await audits();
      return found.length > 0 ? found : undefined;
    });
    expect(audit).toMatchObject({ account: 'bootstrap-admin', port: 80, result: 'closed' });

    const slashless = await fetchRaw(port, url.slice(0, -1));
    expect(slashless.status).toBe(302);
    expect(slashless.headers['location']).toBe(url);
    const redirect = await fetchRaw(port, `${url}redirect`);
    expect(redirect.status).toBe(302);
    expect(redirect.headers['location']).toBe(`${url}hello`);
  });

  it("keeps the VM's cookies to its own link and its answers off the console's storage", async () => {
    const { url } = (await preview('pv-vm', { port: 80 })).body as { url: string };
    const res = await fetchRaw(port, `${url}cookies`);
    expect(res.status).toBe(200);
    const prefix = url.slice(0, -1);
    expect(res.headers['set-cookie']).toEqual([
      `session=s1; Path=${prefix}/; HttpOnly`,
      `pref=p; Path=${prefix}/app; Max-Age=60`,
      'plain=1',
    ]);
    expect(res.headers['clear-site-data']).toBeUndefined();
  });

  it('streams request and answer bodies both ways', async () => {
    const { url } = (await preview('pv-vm', { port: 80 })).body as { url: string };
    const body = Buffer.alloc(3 * 1024 * 1024, 'grove');
    const res = await fetchRaw(port, `${url}upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.body.equals(body)).toBe(true);
  });

  it('refuses forged, expired and recreated-VM links with a clear text', async () => {
    const forged = await fetchRaw(port, '/preview/eyJ2IjoicHYtdm0ifQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/');
    expect(forged.status).toBe(404);
    expect(forged.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(forged.headers['x-content-type-options']).toBe('nosniff');
    expect(forged.headers['content-security-policy']).toMatch(/^sandbox /);
    expect(forged.body.toString()).toContain('not valid');

    const vm = (await ctl.request('GET', '/v1/vms/pv-vm')).body as { uid: string };
    const key = ctl.app.get(PreviewKey).get();
    const expired = signPreviewToken(key, {
      vm: 'pv-vm',
      uid: vm.uid,
      port: 80,
      account: 'a',
      expiresAt: Date.now() - 1,
    });
    const late = await fetchRaw(port, `/preview/${expired}/`);
    expect(late.status).toBe(410);
    expect(late.body.toString()).toContain('expired');

    const other = signPreviewToken(key, {
      vm: 'pv-vm',
      uid: 'an-older-vm',
      port: 80,
      account: 'a',
      expiresAt: Date.now() + 60_000,
    });
    const recreated = await fetchRaw(port, `/preview/${other}/`);
    expect(recreated.status).toBe(404);
    expect(recreated.body.toString()).toContain('no longer exists');
    // Also while the new VM of that name is not running yet: no wait for it (nor a 504 when it does not start).
    expect((await ctl.request('POST', '/v1/vms', { body: { name: 'pv-new', image: 'i' } })).status).toBe(200);
    const earlier = signPreviewToken(key, {
      vm: 'pv-new',
      uid: 'an-older-vm',
      port: 80,
      account: 'a',
      expiresAt: Date.now() + 60_000,
    });
    const pending = await fetchRaw(port, `/preview/${earlier}/`);
    expect(pending.status).toBe(404);
    expect(pending.body.toString()).toContain('no longer exists');
  });

  it('answers 502 naming the VM port when nothing serves HTTP there', async () => {
    const { url } = (await preview('pv-vm', { port: 8081 })).body as { url: string };
    const res = await fetchRaw(port, url);
    expect(res.status).toBe(502);
    expect(res.body.toString()).toContain('VM "pv-vm" port 8081');
  });
});
