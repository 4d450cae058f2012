import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@grove/testing';
import { runOptions } from '../../test-support/run-options';
import { vmDisplayName } from './service-listener';
import { SyntheticRuntime } from './synthetic-runtime';
import { RfbTestClient } from './test-support/rfb-test-client';

const RUN = runOptions({ suspendable: true, credentials: { username: 'ci', password: 'secret' } });
const VM = 'grove-web1-0b5e0d1c-2f4e-4c1a-9d6e-7a8b9c0d1e2f-0';

interface Reply {
  status: number;
  type: string;
  body: string;
}

describe('a synthetic VM screen (VNC, port 5900) and web server (port 80)', () => {
  const signal = new AbortController().signal;
  let dataDir: string;
  let runtime: SyntheticRuntime;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'grove-syn-web-'));
    runtime = new SyntheticRuntime({ dataDir });
    await runtime.start();
    await runtime.clone('any', VM, signal);
    void runtime.run(VM, RUN, signal);
    await waitFor('the VM to boot', () =>
      runtime.ip(VM, { bridged: false, waitSeconds: 0 }, signal).catch(() => false),
    );
  });

  afterEach(async () => {
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** An HTTP request to VM port 80 over a connection from `runtime.connect`. */
  async function get(path: string, method = 'GET'): Promise<Reply> {
    const socket = await runtime.connect(VM, 80, signal);
    return new Promise((resolve, reject) => {
      const req = request({ path, method, createConnection: () => socket, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }));
      });
      req.once('error', reject);
      req.once('timeout', () => req.destroy(new Error(`no answer to ${method} ${path}`)));
      req.end();
    });
  }

  it('names the VM in its own name, not its on-disk name', () => {
    expect(vmDisplayName(VM)).toBe('web1');
    expect(vmDisplayName('some-other-vm')).toBe('some-other-vm');
  });

  it('serves VNC on VM port 5900, with the VM name as the desktop name, until the VM stops', async () => {
    const vnc = RfbTestClient.over(await runtime.connect(VM, 5900, signal));
    const init = await vnc.handshake();
    expect(init).toMatchObject({ width: 1024, height: 768, name: 'web1' });
    vnc.requestUpdate(false, 0, 0, 1024, 768);
    expect((await vnc.readUpdate())[0].data.length).toBe(1024 * 768 * 4);
    await runtime.stop(VM, 30);
    await vnc.closed();
  });

  it('serves a page naming the VM on VM port 80, linking relatively to a second page and a JSON document', async () => {
    const index = await get('/');
    expect(index).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
    expect(index.body).toContain('<h1>synthetic VM web1</h1>');
    expect(index.body).toContain('href="about.html"');
    expect(index.body).toContain('href="status.json"');

    const about = await get('/about.html');
    expect(about.status).toBe(200);
    expect(about.body).toContain('About synthetic VM web1');

    const status = await get('/status.json?x=1');
    expect(status.type).toBe('application/json');
    expect(JSON.parse(status.body)).toMatchObject({ vm: 'web1', runtime: 'synthetic' });
  });

  it('answers unknown pages with 404 and other methods than GET with 405', async () => {
    expect(await get('/nope')).toMatchObject({ status: 404, body: '/nope is not a page of synthetic VM web1\n' });
    expect(await get('/', 'POST')).toMatchObject({ status: 405 });
    expect(await get('/', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  it('answers a request target that is no URL with 400 and goes on serving', async () => {
    expect(await get('http://[')).toMatchObject({ status: 400, body: '"http://[" is not a valid request target\n' });
    expect(await get('/')).toMatchObject({ status: 200 });
  });
});
