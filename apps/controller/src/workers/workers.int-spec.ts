import { TestController } from '../test-support/test-controller';

describe('workers and cluster settings', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start();
  });
  afterAll(async () => {
    await ctl.close();
  });

  const register = (body: Record<string, unknown>) => ctl.request('POST', '/v1/workers', { body });

  it('registers with defaults and refuses another machine under the same name', async () => {
    const res = await register({ name: 'mac-1', machine_id: 'm-1', resources: { 'org.cirruslabs.tart-vms': 2 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'mac-1', arch: 'arm64', runtime: 'tart', scheduling_paused: false });
    expect(Date.parse(res.body.last_seen)).toBeGreaterThan(Date.now() - 60_000);

    const other = await register({ name: 'mac-1', machine_id: 'm-2' });
    expect(other.status).toBe(409);
    expect(other.body.message).toMatch(/managed from a different machine ID/);
  });

  it('keeps scheduling_paused and createdAt across re-registration, updating the rest', async () => {
    const first = await register({ name: 'mac-2', machine_id: 'm', labels: { a: '1' } });
    await ctl.request('PUT', '/v1/workers/mac-2', { body: { name: 'mac-2', scheduling_paused: true } });
    const again = await register({ name: 'mac-2', machine_id: 'm', labels: { a: '2' }, scheduling_paused: false });
    expect(again.body.scheduling_paused).toBe(true);
    expect(again.body.createdAt).toBe(first.body.createdAt);
    expect(again.body.labels).toEqual({ a: '2', 'org.cirruslabs.orchard.worker-name': 'mac-2' });
  });

  it('stores and serves capabilities, replaced at registration; every worker carries its worker-name label', async () => {
    const first = await register({ name: 'mac-caps', machine_id: 'm', capabilities: ['vm-exposed-ports', 'x'] });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      capabilities: ['vm-exposed-ports', 'x'],
      labels: { 'org.cirruslabs.orchard.worker-name': 'mac-caps' },
    });
    // A heartbeat does not touch them; an Orchard worker without the field registers with none.
    await ctl.request('PUT', '/v1/workers/mac-caps', { body: { name: 'mac-caps', capabilities: [] } });
    expect((await ctl.request('GET', '/v1/workers/mac-caps')).body.capabilities).toEqual(['vm-exposed-ports', 'x']);
    await register({ name: 'mac-caps', machine_id: 'm', labels: { 'org.cirruslabs.orchard.worker-name': 'other' } });
    const again = await ctl.request('GET', '/v1/workers/mac-caps');
    expect(again.body.capabilities).toEqual([]);
    expect(again.body.labels).toEqual({ 'org.cirruslabs.orchard.worker-name': 'mac-caps' });
    const listed = (await ctl.request('GET', '/v1/workers')).body as { name: string; capabilities: string[] }[];
    expect(listed.find((w) => w.name === 'mac-caps')?.capabilities).toEqual([]);

    const bad = await register({ name: 'mac-caps', machine_id: 'm', capabilities: 'vm-exposed-ports' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['capabilities']);
  });

  it('keeps last_seen on a sparse update and moves it on a heartbeat', async () => {
    const seen = '2026-01-02T03:04:05.000Z';
    await register({ name: 'mac-3', machine_id: 'm', last_seen: seen });
    const sparse = await ctl.request('PUT', '/v1/workers/mac-3', { body: { name: 'mac-3', scheduling_paused: true } });
    expect(sparse.body.last_seen).toBe(seen);
    expect(sparse.body.scheduling_paused).toBe(true);
    const zero = await ctl.request('PUT', '/v1/workers/mac-3', {
      body: { name: 'mac-3', last_seen: '0001-01-01T00:00:00Z' },
    });
    expect(zero.body.last_seen).toBe(seen);
    expect(zero.body.scheduling_paused).toBe(true);
    const beat = await ctl.request('PUT', '/v1/workers/mac-3', {
      body: { name: 'mac-3', last_seen: '2026-02-01T00:00:00.000Z' },
    });
    expect(beat.body.last_seen).toBe('2026-02-01T00:00:00.000Z');
  });

  it('answers a heartbeat with the whole worker, and loses no pause to heartbeats running at the same time', async () => {
    await register({ name: 'mac-5', machine_id: 'm', labels: { a: '1' }, resources: { 'org.cirruslabs.tart-vms': 2 } });
    const beat = await ctl.request('PUT', '/v1/workers/mac-5', {
      body: { name: 'mac-5', last_seen: '2026-03-01T00:00:00.000Z' },
    });
    expect(beat.status).toBe(200);
    expect(beat.body).toEqual((await ctl.request('GET', '/v1/workers/mac-5')).body);
    expect(beat.body).toMatchObject({ machine_id: 'm', defaultCPU: 0, resources: { 'org.cirruslabs.tart-vms': 2 } });

    const beats = Array.from({ length: 20 }, (_, i) =>
      ctl.request('PUT', '/v1/workers/mac-5', {
        body: { name: 'mac-5', last_seen: `2026-03-01T00:00:${String(i + 10)}.000Z` },
      }),
    );
    const pause = ctl.request('PUT', '/v1/workers/mac-5', { body: { name: 'mac-5', scheduling_paused: true } });
    await Promise.all([...beats, pause]);
    const after = (await ctl.request('GET', '/v1/workers/mac-5')).body;
    expect(after.scheduling_paused).toBe(true);
    expect(after.last_seen).toMatch(/^2026-03-01T00:00:[12]\d\.000Z$/);
  });

  it('validates names, enums and resources', async () => {
    const res = await register({ name: 'bad name', arch: 'sparc', resources: { cpu: -1 } });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['arch', 'name', 'resources']);
    const mismatch = await ctl.request('PUT', '/v1/workers/mac-1', { body: { name: 'mac-9' } });
    expect(mismatch.status).toBe(400);
  });

  it('gets, lists and deletes; unknown workers are 404', async () => {
    await register({ name: 'mac-4', machine_id: 'm' });
    expect((await ctl.request('GET', '/v1/workers/mac-4')).body.name).toBe('mac-4');
    const names = (await ctl.request('GET', '/v1/workers')).body.map((w: { name: string }) => w.name);
    expect(names).toEqual([...names].sort());
    expect(names).toContain('mac-4');
    expect((await ctl.request('DELETE', '/v1/workers/mac-4')).status).toBe(200);
    expect((await ctl.request('GET', '/v1/workers/mac-4')).status).toBe(404);
    expect((await ctl.request('DELETE', '/v1/workers/mac-4')).status).toBe(404);
    expect((await ctl.request('PUT', '/v1/workers/mac-4', { body: { name: 'mac-4' } })).status).toBe(404);
  });

  describe('cluster settings', () => {
    it('starts empty with the default profile and is replaced as a whole', async () => {
      expect((await ctl.request('GET', '/v1/cluster-settings')).body).toEqual({
        hostDirPolicies: [],
        schedulerProfile: 'optimize-utilization',
      });
      const set = await ctl.request('PUT', '/v1/cluster-settings', {
        body: { hostDirPolicies: [{ pathPrefix: '/data', ro: true }], schedulerProfile: 'distribute-load' },
      });
      expect(set.body).toEqual({
        hostDirPolicies: [{ pathPrefix: '/data', ro: true }],
        schedulerProfile: 'distribute-load',
      });
      const cleared = await ctl.request('PUT', '/v1/cluster-settings', { body: { schedulerProfile: '' } });
      expect(cleared.body).toEqual({ hostDirPolicies: [], schedulerProfile: 'optimize-utilization' });
    });

    it('rejects an unknown profile and an empty path prefix', async () => {
      const res = await ctl.request('PUT', '/v1/cluster-settings', {
        body: { hostDirPolicies: [{ pathPrefix: '' }], schedulerProfile: 'random' },
      });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual(
        expect.arrayContaining([
          { field: 'hostDirPolicies[0].pathPrefix', message: 'pathPrefix field cannot be empty' },
          {
            field: 'schedulerProfile',
            message: 'schedulerProfile must be one of: optimize-utilization, distribute-load',
          },
        ]),
      );
    });
  });
});
