import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor, type RunningProcess } from '@grove/testing';
import { runGrove, type GroveResult } from './test-support/cli-process';
import { BOOTSTRAP_ADMIN, startController, type ControllerProcess } from './test-support/controller-process';
import { startGrove } from './test-support/grove-process';
import { startSyntheticWorker } from './test-support/synthetic-worker';

function expectSuccess(result: GroveResult): void {
  if (result.code !== 0) {
    throw new Error(`grove failed with ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** Connects to a local port, sends `data`, shuts down its writing side and resolves with everything read back. */
function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.end(data);
  });
}

/**
 * The connect commands' "done when", end to end: real `grove` processes against a real controller and a synthetic
 * worker (whose VMs serve SSH on port 22 and echo on port 7), nothing faked.
 */
describe('grove port-forward, ssh and ip against a controller and a synthetic worker', () => {
  let controller: ControllerProcess;
  let worker: RunningProcess;
  let home: string;
  const background: RunningProcess[] = [];

  const grove = (args: string[], input?: string): Promise<GroveResult> => runGrove(args, { home, input });

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-connect-cli-'));
    controller = await startController();
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: 'e2e-connect-1',
      dataDir: join(home, 'worker'),
    });
    expectSuccess(
      await grove([
        'context',
        'create',
        controller.url,
        '--service-account-name',
        BOOTSTRAP_ADMIN,
        '--service-account-token',
        controller.adminToken,
      ]),
    );
    expectSuccess(await grove(['create', 'vm', 'v1', '--image', 'any']));
    await waitFor(
      'v1 running',
      async () => {
        const got = await grove(['get', 'vm', 'v1', '-o', 'json']);
        return (JSON.parse(got.stdout) as { status: string }).status === 'running';
      },
      20_000,
      100,
    );
  });

  afterAll(async () => {
    await Promise.all(background.map((proc) => proc.stop('SIGINT')));
    await worker?.stop();
    await controller?.stop();
    if (home) {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('port-forward vm v1 PORT:7 echoes TCP bytes through the local port, per connection, until Ctrl-C', async () => {
    const port = await freePort();
    const forwarder = startGrove(['port-forward', 'vm', 'v1', `${port}:7`], home);
    background.push(forwarder);
    await waitFor(
      'the forwarder to listen',
      () => forwarder.output().includes(`Forwarding 127.0.0.1:${port} -> vm/v1:7; press Ctrl-C to stop`),
      15_000,
    );

    const sent = Array.from({ length: 3 }, () => randomBytes(256 * 1024));
    const back = await Promise.all(sent.map((data) => exchange(port, data)));
    back.forEach((data, i) => expect(data.equals(sent[i])).toBe(true));

    expect(await forwarder.stop('SIGINT')).toBe(0);
  });

  it("ssh vm v1 'echo hi' prints hi and exits 0", async () => {
    expect(await grove(['ssh', 'vm', 'v1', 'echo hi'])).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
  });

  it("ssh vm v1 'exit 3' exits 3", async () => {
    expect(await grove(['ssh', 'vm', 'v1', 'exit 3'])).toMatchObject({ code: 3, stdout: '' });
  });

  it("ssh vm v1 'sh -s' < script runs the script from stdin, stdout and stderr apart", async () => {
    const script = ['a=6', 'b=7', 'echo "product $((a * b))"', 'echo to-stderr >&2', 'exit 5', ''].join('\n');
    expect(await grove(['ssh', 'vm', 'v1', 'sh -s'], script)).toEqual({
      code: 5,
      stdout: 'product 42\n',
      stderr: 'to-stderr\n',
    });
  });

  it('ip vm v1 prints the address its worker sees', async () => {
    // A synthetic VM's services listen on the worker's loopback.
    expect(await grove(['ip', 'vm', 'v1'])).toEqual({ code: 0, stdout: '127.0.0.1\n', stderr: '' });
  });
});
