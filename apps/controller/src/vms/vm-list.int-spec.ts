import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { rawRequest, type RawResponse } from '../test-support/raw-http';
import { ADMIN, TestController } from '../test-support/test-controller';
import { CHUNK_ROWS, FIRST_CHUNK_ROWS } from './vm-list';

/** `GET /v1/vms` streamed, compressed and paged (issue 13), over a real HTTP connection. */
describe('GET /v1/vms', () => {
  let ctl: TestController;
  let port: number;

  beforeAll(async () => {
    ctl = await TestController.start();
    await ctl.app.listen(0, '127.0.0.1');
    port = (ctl.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    await ctl.close();
  });

  const get = (path: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
    rawRequest(port, { method: 'GET', path, headers: { authorization: ADMIN, ...headers } });
  const names = (res: RawResponse): string[] =>
    (JSON.parse(res.body.toString('utf8')) as { name: string }[]).map((vm) => vm.name);

  async function createAll(prefix: string, count: number): Promise<string[]> {
    const created = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
    for (let i = 0; i < created.length; i += 25) {
      const batch = created
        .slice(i, i + 25)
        .map((name) => ctl.request('POST', '/v1/vms', { body: { name, image: 'i' } }));
      for (const res of await Promise.all(batch)) {
        expect(res.status).toBe(200);
      }
    }
    return created;
  }

  /** Assigns VMs to a worker directly, as the scheduler would. */
  async function assign(vms: string[], worker: string): Promise<void> {
    await ctl.dataSource.query(
      `UPDATE vms SET worker = $2, document = jsonb_set(document::jsonb, '{worker}', to_jsonb($2::text))::json
       WHERE name = ANY($1)`,
      [vms, worker],
    );
  }

  /** What `GET /v1/vms` answered before it streamed: every stored document in name order, joined in one statement. */
  async function joinedInOneStatement(worker?: string): Promise<string> {
    const rows: { body: string }[] = await ctl.dataSource.query(
      `SELECT coalesce('[' || string_agg(document::text, ',' ORDER BY name) || ']', '[]') AS body FROM vms
       ${worker === undefined ? '' : 'WHERE worker = $1'}`,
      worker === undefined ? [] : [worker],
    );
    return rows[0].body;
  }

  describe('streaming and gzip', () => {
    beforeAll(async () => {
      // More VMs than the first read and one full read take, so that the list is sent in three pieces at least.
      await createAll('many', FIRST_CHUNK_ROWS + CHUNK_ROWS + 50);
    }, 120_000);

    it('sends the whole list as it is read, byte for byte as before', async () => {
      const res = await get('/v1/vms');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      // Streamed: no length known in advance.
      expect(res.headers['transfer-encoding']).toBe('chunked');
      expect(res.headers['content-length']).toBeUndefined();
      expect(res.headers['x-next-cursor']).toBeUndefined();
      expect(res.body.toString('utf8')).toBe(await joinedInOneStatement());
      expect(names(res)).toHaveLength(FIRST_CHUNK_ROWS + CHUNK_ROWS + 50);
    });

    it('compresses with gzip only when the client accepts it', async () => {
      const plain = await get('/v1/vms');
      const gzipped = await get('/v1/vms', { 'accept-encoding': 'gzip, deflate, br' });
      expect(gzipped.status).toBe(200);
      expect(gzipped.headers['content-encoding']).toBe('gzip');
      expect(gzipped.headers['vary']).toMatch(/accept-encoding/i);
      expect(gzipped.body.length).toBeLessThan(plain.body.length / 5);
      expect(gunzipSync(gzipped.body).equals(plain.body)).toBe(true);

      for (const refused of ['gzip;q=0', 'br', 'identity']) {
        const res = await get('/v1/vms', { 'accept-encoding': refused });
        expect(res.headers['content-encoding']).toBeUndefined();
        expect(res.body.equals(plain.body)).toBe(true);
      }
      const anything = await get('/v1/vms', { 'accept-encoding': '*' });
      expect(anything.headers['content-encoding']).toBe('gzip');
    });

    it('sends short lists uncompressed, [] for a filter that matches nothing', async () => {
      for (const path of ['/v1/vms?filter=worker=nobody', '/v1/vms?filter=status=running']) {
        const res = await get(path, { 'accept-encoding': 'gzip' });
        expect(res.headers['content-encoding']).toBeUndefined();
        expect(res.body.toString()).toBe('[]');
      }
      const page = await get(`/v1/vms?limit=${FIRST_CHUNK_ROWS - 1}`, { 'accept-encoding': 'gzip' });
      expect(page.headers['content-encoding']).toBeUndefined();
      expect(names(page)).toHaveLength(FIRST_CHUNK_ROWS - 1);
      const longer = await get(`/v1/vms?limit=${FIRST_CHUNK_ROWS}`, { 'accept-encoding': 'gzip' });
      expect(longer.headers['content-encoding']).toBe('gzip');
      expect(JSON.parse(gunzipSync(longer.body).toString())).toHaveLength(FIRST_CHUNK_ROWS);
    });
  });

  describe('a short fleet', () => {
    let short: TestController;
    let shortPort: number;
    beforeAll(async () => {
      short = await TestController.start();
      await short.app.listen(0, '127.0.0.1');
      shortPort = (short.app.getHttpServer().address() as AddressInfo).port;
    });
    afterAll(async () => {
      await short?.close();
    });

    it('is sent uncompressed every time, also when the list before it is held', async () => {
      for (const name of ['short-1', 'short-2', 'short-3']) {
        expect((await short.request('POST', '/v1/vms', { body: { name, image: 'i' } })).status).toBe(200);
      }
      for (let i = 0; i < 3; i++) {
        const res = await rawRequest(shortPort, {
          method: 'GET',
          path: '/v1/vms',
          headers: { authorization: ADMIN, 'accept-encoding': 'gzip' },
        });
        expect([i, res.headers['content-encoding']]).toEqual([i, undefined]);
        expect(names(res)).toEqual(['short-1', 'short-2', 'short-3']);
      }
      // A VM created after the held list's last name is in the next list.
      expect((await short.request('POST', '/v1/vms', { body: { name: 'short-4', image: 'i' } })).status).toBe(200);
      const res = await rawRequest(shortPort, { method: 'GET', path: '/v1/vms', headers: { authorization: ADMIN } });
      expect(names(res)).toEqual(['short-1', 'short-2', 'short-3', 'short-4']);
    });
  });

  describe('documents held from the last list', () => {
    it('shows every change at once: through the API, at the SQL prompt without a new version, new and deleted VMs', async () => {
      const mine = await createAll('held', 30);
      // Twice: the second list is served from what the first one read, where nothing changed.
      expect((await get('/v1/vms')).body.toString('utf8')).toBe(await joinedInOneStatement());
      const before = await get('/v1/vms?limit=5000');
      expect(before.body.toString('utf8')).toBe(await joinedInOneStatement());

      const update = await ctl.request('PUT', `/v1/vms/${mine[3]}`, { body: { name: mine[3], suspendable: true } });
      expect(update.status).toBe(200);
      await assign([mine[7]], 'moved-at-the-prompt');
      await ctl.dataSource.query(
        `UPDATE vms SET document = jsonb_set(document::jsonb, '{image}', '"same-version"')::json WHERE name = $1`,
        [mine[11]],
      );
      expect((await ctl.request('DELETE', `/v1/vms/${mine[15]}`)).status).toBe(200);
      await createAll('held-0', 2);

      for (const headers of [{}, { 'accept-encoding': 'gzip' }] as Record<string, string>[]) {
        const res = await get('/v1/vms', headers);
        const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(res.body) : res.body;
        expect(body.toString('utf8')).toBe(await joinedInOneStatement());
        const vms = JSON.parse(body.toString('utf8')) as {
          name: string;
          image: string;
          worker?: string;
          suspendable?: boolean;
        }[];
        const byName = new Map(vms.map((vm) => [vm.name, vm]));
        expect(byName.get(mine[3])?.suspendable).toBe(true);
        expect(byName.get(mine[7])?.worker).toBe('moved-at-the-prompt');
        expect(byName.get(mine[11])?.image).toBe('same-version');
        expect(byName.has(mine[15])).toBe(false);
        expect(byName.has('held-0-00001')).toBe(true);
      }
      // A page from a cursor, and the fleet watch's first lines, read the same documents.
      const cursor = Buffer.from(`n:${mine[2]}`, 'utf8').toString('base64url');
      const page = await get(`/v1/vms?limit=10&cursor=${cursor}`);
      expect(names(page)).toEqual(
        names(await get('/v1/vms'))
          .filter((n) => n > mine[2])
          .slice(0, 10),
      );
      expect(JSON.parse(page.body.toString('utf8'))[1]).toMatchObject({ name: mine[4] });
    }, 60_000);
  });

  describe('pagination', () => {
    it('pages with limit and X-Next-Cursor, within a worker filter too', async () => {
      const all = names(await get('/v1/vms'));
      const walked: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const res = await get(`/v1/vms?limit=400${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        const page = names(res);
        expect(page.length).toBeLessThanOrEqual(400);
        walked.push(...page);
        cursor = res.headers['x-next-cursor'] as string | undefined;
        pages++;
      } while (cursor);
      expect(walked).toEqual(all);
      expect(pages).toBe(Math.ceil(all.length / 400));

      const [a, b] = await createAll('on-w7', 2);
      await assign([a, b], 'w7');
      const first = await get('/v1/vms?filter=worker=w7&limit=1');
      expect(names(first)).toEqual([a]);
      const second = await get(`/v1/vms?filter=worker=w7&limit=1&cursor=${String(first.headers['x-next-cursor'])}`);
      expect(names(second)).toEqual([b]);
      expect(second.headers['x-next-cursor']).toBeUndefined();
      const inner = (res: RawResponse) => res.body.toString('utf8').slice(1, -1);
      expect(`[${inner(first)},${inner(second)}]`).toBe(await joinedInOneStatement('w7'));
    }, 60_000);

    it('keeps its place while VMs are created and deleted between pages', async () => {
      const prefix = 'walk';
      const before = await createAll(prefix, 12);
      await assign(before, 'walker');
      const seen: string[] = [];
      let cursor: string | undefined;
      let step = 0;
      const deletedUnseen: string[] = [];
      do {
        const res = await get(`/v1/vms?filter=worker=walker&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...names(res));
        cursor = res.headers['x-next-cursor'] as string | undefined;
        // Between pages: a VM sorting before the cursor and one after it appear, a seen one and an unseen one go.
        step++;
        await assign(await createAll(`${prefix}-00000-${step}`, 1), 'walker');
        await assign(await createAll(`${prefix}-99999-${step}`, 1), 'walker');
        const unseen = before.find((n) => !seen.includes(n) && !deletedUnseen.includes(n) && n !== before.at(-1));
        if (unseen && step % 2 === 0) {
          expect((await ctl.request('DELETE', `/v1/vms/${unseen}`)).status).toBe(200);
          deletedUnseen.push(unseen);
        }
        if (seen.length > 0 && step === 1) {
          expect((await ctl.request('DELETE', `/v1/vms/${seen[0]}`)).status).toBe(200);
        }
      } while (cursor && step < 100);
      expect(cursor).toBeUndefined();
      // Every VM that existed throughout came exactly once, in name order; none deleted before its page came.
      const kept = before.filter((n) => !deletedUnseen.includes(n));
      expect(seen.filter((n) => before.includes(n))).toEqual(kept);
      expect(new Set(seen).size).toBe(seen.length);
      expect([...seen].sort()).toEqual(seen);
      // Those created after the cursor had passed their place are not there; those ahead of it are.
      expect(seen.some((n) => n.startsWith(`${prefix}-00000-`))).toBe(false);
      expect(seen.filter((n) => n.startsWith(`${prefix}-99999-`)).length).toBeGreaterThan(0);
    }, 60_000);

    it('refuses a bad limit or cursor with 400 naming the parameter', async () => {
      for (const limit of ['0', '-1', 'abc', '1.5', '']) {
        const res = await get(`/v1/vms?limit=${limit}`);
        expect(res.status).toBe(400);
        const body = JSON.parse(res.body.toString());
        expect(body.errors[0].field).toBe('limit');
      }
      for (const cursor of ['garbage', 'bjo', Buffer.from('x:vm-1').toString('base64url')]) {
        const res = await get(`/v1/vms?limit=2&cursor=${cursor}`);
        expect(res.status).toBe(400);
        const body = JSON.parse(res.body.toString());
        expect(body.errors[0]).toMatchObject({ field: 'cursor' });
      }
    });
  });
});
