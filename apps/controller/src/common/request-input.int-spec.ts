import { ADMIN, basic, TestController } from '../test-support/test-controller';

/** Issue 12, items 1, 2, 4 and 5: how the API reads requests, on every route. */
describe('request input', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start();
  });

  afterAll(async () => {
    await ctl.close();
  });

  async function send(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    options: { payload?: string; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: any }> {
    const res = await ctl.app.inject({
      method,
      url,
      payload: options.payload,
      headers: { authorization: ADMIN, 'user-agent': 'Orchard/0.40.0-abc1234', ...options.headers },
    });
    const type = String(res.headers['content-type'] ?? '');
    return { status: res.statusCode, body: res.body !== '' && type.includes('json') ? JSON.parse(res.body) : res.body };
  }

  describe('bodies', () => {
    it('reads a body without Content-Type as JSON (Orchard Go client)', async () => {
      const created = await send('POST', '/v1/vms', { payload: JSON.stringify({ name: 'no-type', image: 'img' }) });
      expect(created).toMatchObject({ status: 200, body: { name: 'no-type', image: 'img' } });
      const vm = created.body;
      const updated = await send('PUT', '/v1/vms/no-type', { payload: JSON.stringify({ ...vm, netSoftnet: true }) });
      expect(updated).toMatchObject({ status: 200, body: { netSoftnet: true, generation: 1 } });
      const bad = await send('POST', '/v1/vms', { payload: '{"name":' });
      expect(bad).toEqual({ status: 400, body: { message: 'invalid JSON was provided' } });
    });

    it('answers 415 {message} to any other explicit type, text/plain included', async () => {
      for (const type of ['application/xml', 'text/plain', 'application/octet-stream']) {
        const res = await send('POST', '/v1/vms', {
          payload: JSON.stringify({ name: 'typed', image: 'img' }),
          headers: { 'content-type': type },
        });
        expect(res.status).toBe(415);
        expect(res.body).toEqual({ message: expect.stringContaining(`unsupported Content-Type "${type}"`) });
      }
      const json = await send('POST', '/v1/vms', {
        payload: JSON.stringify({ name: 'typed', image: 'img' }),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(json.status).toBe(200);
    });

    it('takes an empty body as no body on every method, whatever Content-Type says', async () => {
      await send('POST', '/v1/vms', { payload: JSON.stringify({ name: 'empty-body', image: 'img' }) });
      const json = { 'content-type': 'application/json' };
      expect((await send('GET', '/v1/vms/empty-body', { headers: json })).status).toBe(200);
      expect((await send('DELETE', '/v1/vms/empty-body', { headers: json })).status).toBe(200);
      expect((await send('DELETE', '/v1/vms/empty-body', { headers: json })).status).toBe(404);
      // A POST that needs a body says which fields are missing rather than "invalid JSON".
      const post = await send('POST', '/v1/vms', { headers: json, payload: '' });
      expect(post.status).toBe(400);
      expect(post.body.message).toMatch(/name/);
      expect(post.body.message).not.toMatch(/JSON/);
    });
  });

  describe('text Postgres cannot store', () => {
    const paths = ['/v1/vms/x%00', '/v1/vms/%00', '/v1/workers/x%00y', '/v1/service-accounts/x%00'];

    it.each(paths)('%s is 404 on every method', async (path) => {
      for (const method of ['GET', 'DELETE'] as const) {
        expect((await send(method, path)).status).toBe(404);
      }
      const name = decodeURIComponent(path.split('/').pop()!);
      const body = path.includes('service-accounts') ? { name, roles: [], token: 't' } : { name, image: 'i' };
      // The body's name has the NUL too: refused as invalid input first (400) or as an unknown name (404).
      const put = await send('PUT', path, { payload: JSON.stringify(body) });
      expect([400, 404]).toContain(put.status);
      expect(put.body).toEqual(expect.objectContaining({ message: expect.any(String) }));
    });

    it('is 404 below a VM too (events, ip, port-forward, exec)', async () => {
      for (const sub of ['events', 'ip?wait=1', 'port-forward?port=22', 'exec?command=true']) {
        expect((await send('GET', `/v1/vms/x%00/${sub}`)).status).toBe(404);
      }
      expect((await send('POST', '/v1/vms/x%00/events', { payload: '[]' })).status).toBe(404);
    });

    it('is 400 in a query or a body, naming the field', async () => {
      const query = await send('GET', '/v1/vms?filter=worker=a%00');
      expect(query).toMatchObject({ status: 400, body: { errors: [{ field: 'filter' }] } });
      const image = await send('POST', '/v1/vms', { payload: JSON.stringify({ name: 'nul', image: 'i\u0000' }) });
      expect(image).toMatchObject({ status: 400, body: { errors: [{ field: 'image' }] } });
      const label = await send('POST', '/v1/vms', {
        payload: JSON.stringify({ name: 'nul', image: 'i', labels: { 'a\u0000': 'b' } }),
      });
      expect(label).toMatchObject({ status: 400, body: { errors: [{ field: 'labels.a\u0000' }] } });
      const surrogate = await send('POST', '/v1/vms', { payload: '{"name":"nul","image":"\\ud800"}' });
      expect(surrogate).toMatchObject({ status: 400, body: { errors: [{ field: 'image' }] } });
      expect((await send('GET', '/v1/vms/nul')).status).toBe(404);
    });

    it('is an unknown account in the Authorization header (401)', async () => {
      const res = await send('GET', '/v1/vms', { headers: { authorization: basic('a\u0000b', 'token') } });
      expect(res.status).toBe(401);
    });
  });

  describe('null fields', () => {
    it('takes null as absent, never as a database error', async () => {
      const worker = { name: 'nulls', machine_id: 'm', last_seen: new Date().toISOString() };
      expect((await send('POST', '/v1/workers', { payload: JSON.stringify(worker) })).status).toBe(200);
      const put = await send('PUT', '/v1/workers/nulls', {
        payload: JSON.stringify({ name: 'nulls', scheduling_paused: null, last_seen: null, resources: null }),
      });
      expect(put).toMatchObject({ status: 200, body: { scheduling_paused: false } });
      expect(JSON.stringify(put.body)).not.toMatch(/:null\b/);
    });
  });

  describe('paths', () => {
    it('serves names longer than the router default of 100 characters', async () => {
      const name = 'n'.repeat(300);
      expect((await send('POST', '/v1/vms', { payload: JSON.stringify({ name, image: 'i' }) })).status).toBe(200);
      expect(await send('GET', `/v1/vms/${name}`)).toMatchObject({ status: 200, body: { name } });
    });

    it('answers a percent-encoding that is not UTF-8 with 400 {message}', async () => {
      const res = await send('GET', '/v1/vms/x%FF');
      expect(res.status).toBe(400);
      expect(Object.keys(res.body)).toEqual(['message']);
    });
  });

  describe('PUT /v1/service-accounts/{name}', () => {
    it('needs a token: 400 naming the field (Orchard: 412 "service account token is empty")', async () => {
      const auth = await ctl.createAccount('rotate-me', ['compute:read']);
      const res = await send('PUT', '/v1/service-accounts/rotate-me', {
        payload: JSON.stringify({ name: 'rotate-me', roles: ['compute:read'] }),
      });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'token' })]));
      const empty = await send('PUT', '/v1/service-accounts/rotate-me', {
        payload: JSON.stringify({ name: 'rotate-me', roles: ['compute:read'], token: '' }),
      });
      expect(empty.status).toBe(400);
      // The account and its token are unchanged.
      expect((await send('GET', '/v1/vms', { headers: { authorization: auth } })).status).toBe(200);
    });
  });
});
