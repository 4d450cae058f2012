import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import { encodeBootstrapToken } from '@grove/resources';
import { startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { BOOTSTRAP_ADMIN, startController, type ControllerProcess } from './test-support/controller-process';
import { REPO_ROOT } from './test-support/paths';

const WORKER_MAIN = join(REPO_ROOT, 'apps', 'worker', 'dist', 'main.js');

function startWorker(args: string[]): RunningProcess {
  // The synthetic runtime keeps no state for a worker that runs no VMs, but it gets a data dir of its own anyway.
  return startNodeProcess([
    WORKER_MAIN,
    ...args,
    '--runtime',
    'synthetic',
    '--data-dir',
    mkdtempSync(join(tmpdir(), 'grove-e2e-w-')),
  ]);
}

describe('worker process: registration and session', () => {
  let controller: ControllerProcess;

  beforeAll(async () => {
    controller = await startController({ tls: true });
  });
  afterAll(async () => {
    await controller.stop();
  });

  it('registers over pinned TLS with its bootstrap token and opens its gRPC session', async () => {
    const certificatePem = readFileSync(join(controller.dataDir, 'controller.crt'), 'utf8');
    const token = encodeBootstrapToken({
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: controller.adminToken,
      certificatePem,
    });
    const worker = startWorker([
      controller.url,
      '--bootstrap-token',
      token,
      '--name',
      'e2e-worker',
      '--labels',
      'pool=e2e',
    ]);
    try {
      await waitFor('the session', () => /connected to https:/.test(worker.output()), 20_000);
      const registered = await new GroveClient({
        url: controller.url,
        serviceAccountName: BOOTSTRAP_ADMIN,
        serviceAccountToken: controller.adminToken,
        certificatePem,
      }).workers.get('e2e-worker');
      // The worker's own labels, and the one every worker carries (orchard-2026.md §1.2.10).
      expect(registered.labels).toEqual({ pool: 'e2e', 'org.cirruslabs.orchard.worker-name': 'e2e-worker' });
      expect(registered.capabilities).toEqual([
        'vm-exposed-ports',
        'vm-endpoints',
        'tunnel-guest-agent',
        'host-processes',
      ]);
      expect(registered.resources['org.cirruslabs.logical-cores']).toBeGreaterThan(0);
      expect(controller.output()).toMatch(/worker "e2e-worker" connected/);
    } finally {
      expect(await worker.stop()).toBe(0);
    }
  });

  it('refuses to start without a bootstrap token, naming the flags', async () => {
    const worker = startWorker([controller.url]);
    expect(await worker.exited).toBe(2);
    expect(worker.output()).toMatch(/--bootstrap-token, --bootstrap-token-stdin or --bootstrap-token-file/);
  });
});
