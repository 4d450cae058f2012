import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@grove/testing';
import { FillNewerVmFields1796601600000 } from '../infra/database/migrations/1796601600000-FillNewerVmFields';
import { OmitNullStartupScript1796515200000 } from '../infra/database/migrations/1796515200000-OmitNullStartupScript';
import { ADMIN, TestController } from '../test-support/test-controller';

describe('VMs', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start();
  });
  afterAll(async () => {
    await ctl.close();
  });

  let seq = 0;
  const fresh = (prefix = 'vm') => `${prefix}-${++seq}`;
  const create = (body: Record<string, unknown>) => ctl.request('POST', '/v1/vms', { body });

  describe('create', () => {
    it('fills every default for a minimal VM', async () => {
      const name = fresh();
      const res = await create({ name, image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest' });
      expect(res.status).toBe(200);
      const vm = res.body;
      expect(vm).toMatchObject({
        name,
        status: 'pending',
        powerState: 'running',
        restart_policy: 'Never',
        imagePullPolicy: 'IfNotPresent',
        os: 'darwin',
        arch: 'arm64',
        runtime: 'tart',
        resources: { 'org.cirruslabs.tart-vms': 1 },
        conditions: [{ type: 'scheduled', state: 'false' }],
        generation: 0,
        observedGeneration: 0,
        restart_count: 0,
        restarted_at: '0001-01-01T00:00:00Z',
        scheduled_at: '0001-01-01T00:00:00Z',
        started_at: '0001-01-01T00:00:00Z',
        worker: '',
      });
      expect(vm.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(vm.localName).toBe(`grove-${name}-${vm.uid}-0`);
      expect(vm.tartName).toBe(vm.localName);
      expect(vm.version).toBeGreaterThan(0);
      expect(Date.parse(vm.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    });

    it('does not give linux VMs the macOS licence resource', async () => {
      const res = await create({ name: fresh(), image: 'ubuntu', os: 'linux' });
      expect(res.body.resources).toEqual({});
    });

    it('accepts a whole Orchard-style document with read-only fields and empty enums', async () => {
      const name = fresh();
      const res = await create({
        name,
        image: 'img',
        status: '',
        worker: 'ignored',
        uid: '',
        conditions: null,
        restart_policy: '',
        imagePullPolicy: '',
        labels: null,
        resources: null,
        hostDirs: null,
        startup_script: null,
        createdAt: '0001-01-01T00:00:00Z',
      });
      expect(res.status).toBe(200);
      expect(res.body.worker).toBe('');
      expect(res.body.restart_policy).toBe('Never');
    });

    it('lists every invalid field at once with a 400', async () => {
      const res = await create({ name: 'vm%', image: '', restart_policy: 'never', os: 'windows', cpu: -1 });
      expect(res.status).toBe(400);
      const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
      expect(fields).toEqual(['cpu', 'image', 'name', 'os', 'restart_policy']);
      expect(res.body.message).toMatch(/restart_policy must be one of: Never, OnFailure/);
    });

    it('requires an image', async () => {
      const res = await create({ name: 'ok-name', image: '' });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ field: 'image', message: 'image must not be empty' }]);
      expect((await create({ name: 'ok-name' })).body.errors[0].field).toBe('image');
    });

    it('rejects unknown fields and malformed JSON', async () => {
      const unknown = await create({ name: fresh(), image: 'i', colour: 'green' });
      expect(unknown.status).toBe(400);
      expect(unknown.body.errors[0]).toEqual({ field: 'colour', message: 'property colour should not exist' });
      const broken = await ctl.request('POST', '/v1/vms', { rawBody: '{"name": ' });
      expect(broken.status).toBe(400);
      expect(broken.body.message).toBe('invalid JSON was provided');
    });

    it('rejects a duplicate name with 409', async () => {
      const name = fresh();
      expect((await create({ name, image: 'i' })).status).toBe(200);
      const dup = await create({ name, image: 'i' });
      expect(dup.status).toBe(409);
      expect(dup.body.message).toBe('VM with this name already exists');
    });

    it('refuses fields the vetu runtime does not support', async () => {
      const res = await create({
        name: fresh(),
        image: 'i',
        runtime: 'vetu',
        os: 'linux',
        hostDirs: [{ name: 'src', path: '/src' }],
        suspendable: true,
      });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual(
        expect.arrayContaining([
          { field: 'hostDirs', message: 'runtime "vetu" does not support this field' },
          { field: 'suspendable', message: 'runtime "vetu" does not support this field' },
        ]),
      );
    });

    it('checks host directories against the cluster policies', async () => {
      const hostDirs = [{ name: 'src', path: '/Users/ci/src' }];
      const noPolicy = await create({ name: fresh(), image: 'i', hostDirs });
      expect(noPolicy.status).toBe(400);
      expect(noPolicy.body.errors[0].message).toMatch(/is disallowed by policy/);

      await ctl.request('PUT', '/v1/cluster-settings', {
        body: { hostDirPolicies: [{ pathPrefix: '/Users/ci', ro: true }] },
      });
      const rwUnderRo = await create({ name: fresh(), image: 'i', hostDirs });
      expect(rwUnderRo.status).toBe(400);
      const dotdot = await create({
        name: fresh(),
        image: 'i',
        hostDirs: [{ name: 'x', path: '/Users/ci/../etc', ro: true }],
      });
      expect(dotdot.status).toBe(400);
      expect(dotdot.body.errors[0]).toEqual({ field: 'hostDirs[0].path', message: 'must not contain ".."' });
      const ok = await create({
        name: fresh(),
        image: 'i',
        hostDirs: [{ name: 'src', path: '/Users/ci/src', ro: true }],
      });
      expect(ok.status).toBe(200);
      expect(ok.body.hostDirs).toEqual([{ name: 'src', path: '/Users/ci/src', ro: true }]);
      await ctl.request('PUT', '/v1/cluster-settings', { body: {} });
    });

    it('turns softnet on when allow or block lists are given', async () => {
      const res = await create({ name: fresh(), image: 'i', netSoftnetAllow: ['10.0.0.0/8'] });
      expect(res.body.netSoftnet).toBe(true);
      expect(res.body['net-softnet']).toBe(true);
    });
  });

  describe('list and get', () => {
    it('filters by worker; other filters match nothing; malformed filters are 400', async () => {
      const a = fresh('filtered');
      await create({ name: a, image: 'i' });
      await ctl.request('PUT', `/v1/vms/${a}/state`, { body: { status: 'pending' } });
      // Assign directly, as the scheduler would.
      await ctl.dataSource.query(
        `UPDATE vms SET worker = 'w1', document = jsonb_set(document::jsonb, '{worker}', '"w1"')::json WHERE name = $1`,
        [a],
      );
      const onW1 = await ctl.request('GET', '/v1/vms?filter=worker=w1');
      expect(onW1.body.map((v: { name: string }) => v.name)).toEqual([a]);
      expect((await ctl.request('GET', '/v1/vms?filter=foo=bar')).body).toEqual([]);
      const bad = await ctl.request('GET', '/v1/vms?filter=abc');
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0].field).toBe('filter');
      const all = await ctl.request('GET', '/v1/vms');
      expect(all.body.length).toBeGreaterThan(1);
    });

    it('omits startup_script when the VM has none, in lists and single reads alike (issue 12, item 3)', async () => {
      const plain = fresh('no-script');
      const scripted = fresh('script');
      const created = await create({ name: plain, image: 'i', startup_script: null });
      expect(created.body).not.toHaveProperty('startup_script');
      await create({ name: scripted, image: 'i', startup_script: { script_content: 'echo hi' } });
      // A document stored before the fix, with the null, is rewritten by the migration.
      await ctl.dataSource.query(
        `UPDATE vms SET document = replace(document::text, ',"restart_policy"', ',"startup_script":null,"restart_policy"')::json
         WHERE name = $1`,
        [plain],
      );
      expect((await ctl.request('GET', `/v1/vms/${plain}`)).body.startup_script).toBeNull();
      await new OmitNullStartupScript1796515200000().up(ctl.dataSource.createQueryRunner());
      const one = (await ctl.request('GET', `/v1/vms/${plain}`)).body;
      expect(one).not.toHaveProperty('startup_script');
      expect(one.restart_policy).toBe('Never');
      const list: Record<string, unknown>[] = (await ctl.request('GET', '/v1/vms')).body;
      expect(list.find((v) => v['name'] === plain)).toEqual(one);
      expect(list.find((v) => v['name'] === scripted)).toMatchObject({ startup_script: { script_content: 'echo hi' } });
      // Nothing in any VM is null.
      expect(JSON.stringify(list)).not.toMatch(/:null\b/);
    });

    it('serves a VM byte for byte the same in the list and alone, older documents included', async () => {
      const name = fresh('agree');
      await create({ name, image: 'i' });
      const same = async () => {
        const one = (await ctl.app.inject({ url: `/v1/vms/${name}`, headers: { authorization: ADMIN } })).body;
        const all = JSON.parse((await ctl.app.inject({ url: '/v1/vms', headers: { authorization: ADMIN } })).body);
        expect(JSON.stringify(all.find((v: { name: string }) => v.name === name))).toBe(one);
        return JSON.parse(one) as Record<string, unknown>;
      };
      await same();
      // A document stored before audio, clipboard and netSoftnetExpose: the migration fills them in place.
      await ctl.dataSource.query(
        `UPDATE vms SET document = replace(document::text, '"audio":false,"clipboard":false,"netSoftnetExpose":[],', '')::json
         WHERE name = $1`,
        [name],
      );
      expect(
        (await ctl.request('GET', '/v1/vms')).body.find((v: { name: string }) => v.name === name),
      ).not.toHaveProperty('audio');
      await new FillNewerVmFields1796601600000().up(ctl.dataSource.createQueryRunner());
      expect(await same()).toMatchObject({ audio: false, clipboard: false, netSoftnetExpose: [] });
    });

    it('404s an unknown VM', async () => {
      const res = await ctl.request('GET', '/v1/vms/nope');
      expect(res.status).toBe(404);
      expect(res.body.message).toBe('VM "nope" not found');
    });
  });

  describe('spec updates', () => {
    it('bumps generation only when the spec changes', async () => {
      const name = fresh();
      const vm = (await create({ name, image: 'i', suspendable: false })).body;
      const same = await ctl.request('PUT', `/v1/vms/${name}`, { body: vm });
      expect(same.status).toBe(200);
      expect(same.body.generation).toBe(0);
      const changed = await ctl.request('PUT', `/v1/vms/${name}`, { body: { ...vm, netSoftnet: true } });
      expect(changed.body.generation).toBe(1);
      expect(changed.body['net-softnet']).toBe(true);
      expect(changed.body.version).toBeGreaterThan(vm.version);
      // Fields outside the spec are ignored.
      const ignored = await ctl.request('PUT', `/v1/vms/${name}`, {
        body: { ...changed.body, image: 'other', cpu: 99 },
      });
      expect(ignored.body.image).toBe('i');
      expect(ignored.body.generation).toBe(1);
    });

    it('refuses immutable and impossible changes', async () => {
      const name = fresh();
      const vm = (await create({ name, image: 'i' })).body;
      const os = await ctl.request('PUT', `/v1/vms/${name}`, { body: { ...vm, os: 'linux' } });
      expect(os.status).toBe(400);
      expect(os.body.errors).toEqual([{ field: 'os', message: 'cannot be modified' }]);
      const suspend = await ctl.request('PUT', `/v1/vms/${name}`, { body: { ...vm, powerState: 'suspended' } });
      expect(suspend.status).toBe(400);
      expect(suspend.body.errors[0]).toEqual({ field: 'powerState', message: 'only suspendable VMs can be suspended' });
      const bogus = await ctl.request('PUT', `/v1/vms/${name}`, { body: { ...vm, powerState: 'hibernating' } });
      expect(bogus.status).toBe(400);
    });

    it('treats stopped as final and a failed VM as frozen', async () => {
      const name = fresh();
      const vm = (await create({ name, image: 'i' })).body;
      const stopped = await ctl.request('PUT', `/v1/vms/${name}`, { body: { ...vm, powerState: 'stopped' } });
      expect(stopped.body.generation).toBe(1);
      const again = await ctl.request('PUT', `/v1/vms/${name}`, { body: stopped.body });
      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/terminal power state/);

      const failing = fresh();
      await create({ name: failing, image: 'i' });
      await ctl.request('PUT', `/v1/vms/${failing}/state`, { body: { status: 'failed', status_message: 'boom' } });
      const frozen = await ctl.request('PUT', `/v1/vms/${failing}`, { body: { netSoftnet: true } });
      expect(frozen.status).toBe(409);
      expect(frozen.body.message).toBe('cannot update VM in a terminal state');
    });
  });

  describe('state updates', () => {
    it('sets started_at once on the first running report and keeps failed terminal', async () => {
      const name = fresh();
      await create({ name, image: 'i' });
      const running = await ctl.request('PUT', `/v1/vms/${name}/state`, {
        body: {
          status: 'running',
          status_message: 'VM started',
          image_fqn: 'ghcr.io/x@sha256:abc',
          observedGeneration: 0,
          conditions: [
            { type: 'running', state: 'true' },
            { type: 'scheduled', state: 'false' },
          ],
        },
      });
      expect(running.status).toBe(200);
      expect(running.body.status_message).toBe('VM started');
      expect(running.body.image_fqn).toBe('ghcr.io/x@sha256:abc');
      expect(running.body.started_at).not.toBe('0001-01-01T00:00:00Z');
      // The worker reports only `running`; `scheduled` stays the controller's.
      expect(running.body.conditions).toEqual(
        expect.arrayContaining([
          { type: 'scheduled', state: 'false' },
          { type: 'running', state: 'true' },
        ]),
      );
      const startedAt = running.body.started_at;
      const again = await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status: 'running' } });
      expect(again.body.started_at).toBe(startedAt);

      await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status: 'failed' } });
      const revive = await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status: 'running' } });
      expect(revive.status).toBe(409);
      expect(revive.body.message).toBe('cannot update status for a VM in a terminal state');
    });

    it('refuses a report about another incarnation of the same name', async () => {
      const name = fresh();
      const vm = (await create({ name, image: 'i' })).body;
      const stale = await ctl.request('PUT', `/v1/vms/${name}/state`, {
        body: { uid: '00000000-0000-4000-8000-000000000000', status: 'failed', status_message: 'old one died' },
      });
      expect(stale.status).toBe(409);
      expect(stale.body.message).toBe(`the state report is for another incarnation of VM "${name}"`);
      const restarted = await ctl.request('PUT', `/v1/vms/${name}/state`, {
        body: { uid: vm.uid, restart_count: 1, status: 'failed' },
      });
      expect(restarted.status).toBe(409);
      const current = await ctl.request('PUT', `/v1/vms/${name}/state`, {
        body: { uid: vm.uid, restart_count: 0, status_message: 'cloning VM...' },
      });
      expect(current.status).toBe(200);
      expect(current.body.status).toBe('pending');
      expect(current.body.status_message).toBe('cloning VM...');
    });
  });

  describe('events', () => {
    it('paginates with X-Next-Cursor in both orders and validates the query', async () => {
      const name = fresh();
      await create({ name, image: 'i' });
      const events = [1, 2, 3, 4].map((i) => ({ kind: 'log_line', timestamp: 1700000000 + i, payload: `line ${i}` }));
      expect((await ctl.request('POST', `/v1/vms/${name}/events`, { body: events })).status).toBe(200);

      const first = await ctl.request('GET', `/v1/vms/${name}/events?limit=2`);
      expect(first.body.map((e: { payload: string }) => e.payload)).toEqual(['line 1', 'line 2']);
      const cursor = first.headers['x-next-cursor'] as string;
      expect(cursor).toBeTruthy();
      const second = await ctl.request('GET', `/v1/vms/${name}/events?limit=2&cursor=${cursor}`);
      expect(second.body.map((e: { payload: string }) => e.payload)).toEqual(['line 3', 'line 4']);
      expect(second.headers['x-next-cursor']).toBeUndefined();

      const desc = await ctl.request('GET', `/v1/vms/${name}/events?order=DESC`);
      expect(desc.body.map((e: { payload: string }) => e.payload)).toEqual(['line 4', 'line 3', 'line 2', 'line 1']);
      expect(desc.body[0]).toEqual({ kind: 'log_line', timestamp: 1700000004, payload: 'line 4' });

      expect((await ctl.request('GET', `/v1/vms/${name}/events?limit=0`)).status).toBe(400);
      expect((await ctl.request('GET', `/v1/vms/${name}/events?order=sideways`)).status).toBe(400);
      const badCursor = await ctl.request('GET', `/v1/vms/${name}/events?cursor=%21%21`);
      expect(badCursor.status).toBe(400);
      expect(badCursor.body.errors[0].field).toBe('cursor');
    });

    it('rejects malformed events, naming the item and field', async () => {
      const name = fresh();
      await create({ name, image: 'i' });
      const res = await ctl.request('POST', `/v1/vms/${name}/events`, {
        body: [
          { kind: 'log_line', timestamp: 1, payload: 'ok' },
          { kind: 'shout', timestamp: 'x', payload: 3 },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/kind/);
      expect((await ctl.request('GET', `/v1/vms/${name}/events`)).body).toEqual([]);
      expect((await ctl.request('POST', '/v1/vms/nope/events', { body: [] })).status).toBe(404);
    });

    it('deletes a VM together with its events', async () => {
      const name = fresh();
      const vm = (await create({ name, image: 'i' })).body;
      await ctl.request('POST', `/v1/vms/${name}/events`, { body: [{ kind: 'log_line', timestamp: 1, payload: 'x' }] });
      expect((await ctl.request('DELETE', `/v1/vms/${name}`)).status).toBe(200);
      expect((await ctl.request('GET', `/v1/vms/${name}`)).status).toBe(404);
      expect((await ctl.request('GET', `/v1/vms/${name}/events`)).status).toBe(404);
      const rows = await ctl.dataSource.query('SELECT count(*)::int AS n FROM vm_events WHERE vm_uid = $1', [vm.uid]);
      expect(rows[0].n).toBe(0);
      expect((await ctl.request('DELETE', `/v1/vms/${name}`)).status).toBe(404);
    });
  });

  describe('watch', () => {
    let base: string;
    beforeAll(async () => {
      await ctl.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = ctl.app.getHttpServer().address() as AddressInfo;
      base = `http://127.0.0.1:${port}`;
    });

    /** Opens a watch and collects its NDJSON messages. */
    function watch(name: string): Promise<{ messages: any[]; close: () => void; response: IncomingMessage }> {
      return new Promise((resolve, reject) => {
        const req = httpRequest(
          `${base}/v1/vms/${name}?watch=true`,
          { headers: { authorization: ADMIN } },
          (response) => {
            const messages: any[] = [];
            let buffer = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => {
              buffer += chunk;
              let idx;
              while ((idx = buffer.indexOf('\n')) >= 0) {
                messages.push(JSON.parse(buffer.slice(0, idx)));
                buffer = buffer.slice(idx + 1);
              }
            });
            resolve({ messages, close: () => req.destroy(), response });
          },
        );
        req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
        req.end();
      });
    }

    it('streams ADDED, MODIFIED and DELETED for an existing VM', async () => {
      const name = fresh('watched');
      await create({ name, image: 'i' });
      const w = await watch(name);
      try {
        expect(w.response.headers['content-type']).toBe('application/x-ndjson');
        await waitFor('ADDED', () => w.messages.length === 1);
        expect(w.messages[0].type).toBe('ADDED');
        expect(w.messages[0].object.name).toBe(name);
        await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status_message: 'cloning VM...' } });
        await waitFor('MODIFIED', () => w.messages.length === 2);
        expect(w.messages[1]).toMatchObject({ type: 'MODIFIED', object: { status_message: 'cloning VM...' } });
        await ctl.request('DELETE', `/v1/vms/${name}`);
        await waitFor('DELETED', () => w.messages.length === 3);
        expect(w.messages[2].type).toBe('DELETED');
      } finally {
        w.close();
      }
    });

    it('waits for a VM that does not exist yet and reports ADDED when it is created', async () => {
      const name = fresh('future');
      const w = await watch(name);
      try {
        await create({ name, image: 'i' });
        await waitFor('ADDED', () => w.messages.length === 1);
        expect(w.messages[0]).toMatchObject({ type: 'ADDED', object: { name } });
      } finally {
        w.close();
      }
    });
  });

  it('hides unexpected failures behind a correlation id', async () => {
    const name = fresh();
    await create({ name, image: 'i' });
    await ctl.dataSource.query('ALTER TABLE vm_events RENAME TO vm_events_away');
    try {
      const res = await ctl.request('GET', `/v1/vms/${name}/events`);
      expect(res.status).toBe(500);
      expect(res.body.message).toMatch(/^internal error; correlation id [0-9a-f-]{36}$/);
      expect(JSON.stringify(res.body)).not.toMatch(/vm_events|at .*\.ts/);
    } finally {
      await ctl.dataSource.query('ALTER TABLE vm_events_away RENAME TO vm_events');
    }
  });
});
