import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Vm, WatchMessage } from '@grove/resources';
import { waitFor, type RunningProcess } from '@grove/testing';
import { HALF_CLOSE_PROTOCOL } from '@grove/client';
import { WebSocket } from 'ws';
import { ExecSocket } from '../test-support/exec-socket';
import { startHaCluster, type HaCluster, type Replica } from '../test-support/ha-cluster';
import { ndjsonRequest } from '../test-support/ndjson-request';
import { untilRunning } from '../test-support/running-vm';
import { startSyntheticWorker } from '../test-support/synthetic-worker';
import { closeAndWait, echoThrough } from '../test-support/websocket-session';

const ADMIN = 'bootstrap-admin';

/**
 * What the controller does for the web console (issue 16, docs/console.md "Server side"), against real processes:
 * two controllers on one Postgres and a synthetic worker connected to one of them. Preview links, WebSockets with
 * the console's subprotocol credentials and the fleet watch work through either replica.
 */
describe("the console's server side on two controllers", () => {
  let cluster: HaCluster;
  let home: string;
  let worker: RunningProcess;
  let holder: Replica;
  let other: Replica;
  const agent = new Agent({ keepAlive: true });
  const credentials = () => `grove.basic.${Buffer.from(`${ADMIN}:${cluster.adminToken}`).toString('base64url')}`;
  const basic = () => `Basic ${Buffer.from(`${ADMIN}:${cluster.adminToken}`).toString('base64')}`;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-console-server-'));
    cluster = await startHaCluster(2);
    worker = await startSyntheticWorker({
      controllerUrl: cluster.url,
      adminToken: cluster.adminToken,
      name: 'cs-1',
      dataDir: join(home, 'cs-1'),
    });
    await cluster.client.vms.create({ name: 'cs-vm', image: 'any', os: 'linux' });
    await untilRunning(cluster.client, 'cs-vm', 30_000);
    holder = await waitFor('the replica holding cs-1', () => cluster.holderOf('cs-1'), 10_000, 100);
    const second = cluster.replicas.find((r) => r !== holder);
    if (!second) {
      throw new Error('no second replica');
    }
    other = second;
  }, 120_000);

  afterAll(async () => {
    agent.destroy();
    await worker?.stop();
    await cluster?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  /**
   * A WebSocket opened with the console's subprotocols only (no Authorization header), paused like the client
   * library's: frames arriving with the handshake's answer wait for the listener attached after the open.
   */
  function openWithSubprotocol(replica: Replica, path: string, protocols: string[]): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${replica.url.replace(/^http/, 'ws')}${path}`, protocols);
      ws.once('open', () => {
        ws.pause();
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  it('serves a preview made through one replica from both, to the synthetic VM page on port 80', async () => {
    const made = await fetch(`${other.url}/v1/vms/cs-vm/previews`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/json' },
      body: JSON.stringify({ port: 80 }),
    });
    expect(made.status).toBe(200);
    const { url } = (await made.json()) as { url: string };
    for (const replica of [holder, other]) {
      const page = await fetch(`${replica.url}${url}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('synthetic VM cs-vm');
      const status = await fetch(`${replica.url}${url}status.json`);
      expect(await status.json()).toMatchObject({ vm: 'cs-vm', runtime: 'synthetic' });
    }
    expect((await fetch(`${other.url}${url}no-such-page`)).status).toBe(404);
  });

  it('opens exec and port-forward WebSockets with subprotocol credentials through the replica without the worker', async () => {
    const exec = new ExecSocket(
      await openWithSubprotocol(other, '/v1/vms/cs-vm/exec?command=echo%20hi&wait=10', [
        'grove.console',
        credentials(),
      ]),
    );
    expect(exec.ws.protocol).toBe('grove.console');
    expect(await exec.closed).toEqual({ code: 1000, reason: 'Command finished' });
    expect(exec.output()).toBe('hi\n');

    const forward = await openWithSubprotocol(other, '/v1/vms/cs-vm/port-forward?port=7&wait=10', [
      'grove.console',
      credentials(),
      HALF_CLOSE_PROTOCOL,
    ]);
    expect(forward.protocol).toBe(HALF_CLOSE_PROTOCOL);
    const data = randomBytes(64 * 1024);
    expect((await echoThrough(forward, data)).equals(data)).toBe(true);
    await closeAndWait(forward);
  });

  it('reattaches a reconnectable shell through the other replica with subprotocol credentials (forwarded handshake)', async () => {
    const id = `console-${randomBytes(4).toString('hex')}`;
    const query = `session=${id}&wait=10`;
    const start = `/v1/vms/cs-vm/exec?command=${encodeURIComponent('echo first; read x; echo second')}&interactive=true&${query}`;
    const first = new ExecSocket(await openWithSubprotocol(holder, start, ['grove.console', credentials()]));
    await first.outputContains('first\n');
    first.send({ type: 'detach' });
    expect(await first.closed).toEqual({ code: 1000, reason: 'detached' });

    const again = new ExecSocket(
      await openWithSubprotocol(other, `/v1/vms/cs-vm/exec?${query}`, [credentials(), 'grove.console']),
    );
    expect(again.ws.protocol).toBe('grove.console');
    again.send({ type: 'history', watermark: 1 });
    again.stdin('go\n');
    await again.frame((f) => f.type === 'exit', 'the exit of the reattached command');
    expect(again.output()).toBe('second\n');
  });

  it('streams the fleet from one replica with the VMs created through the other', async () => {
    const watch = await ndjsonRequest({
      url: other.url,
      account: { name: ADMIN, token: cluster.adminToken },
      method: 'GET',
      path: '/v1/vms?watch=true',
      agent,
    });
    expect(watch.status).toBe(200);
    const lines = watch.lines as WatchMessage<Vm>[];
    await waitFor('cs-vm in the fleet', () => lines.some((l) => l.type === 'ADDED' && l.object.name === 'cs-vm'));
    await holder.client.vms.create({ name: 'cs-later', image: 'any', os: 'linux' });
    await waitFor(
      'cs-later running in the stream',
      () => lines.some((l) => l.object.name === 'cs-later' && l.object.status === 'running'),
      30_000,
    );
    expect(lines.find((l) => l.object.name === 'cs-later')?.type).toBe('ADDED');
  });
});
