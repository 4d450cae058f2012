import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import { freePort, startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { CONTROLLER_MAIN } from './test-support/paths';

/** Starts the built controller without GROVE_DATABASE_URL, i.e. on PGlite in its data dir. */
function startEmbedded(dataDir: string, port: number, token: string): RunningProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, GROVE_BOOTSTRAP_ADMIN_TOKEN: token, GROVE_HOME: dataDir };
  delete env['GROVE_DATABASE_URL'];
  return startNodeProcess(
    [
      CONTROLLER_MAIN,
      '--insecure-no-tls',
      '--listen',
      `127.0.0.1:${port}`,
      '--listen-grpc',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
    ],
    env,
  );
}

describe('controller on the embedded database (PGlite)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'grove-embedded-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('serves the API, survives a restart with its data, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const token = 'embedded-admin-token';
    const client = new GroveClient({
      url: `http://127.0.0.1:${port}`,
      serviceAccountName: 'bootstrap-admin',
      serviceAccountToken: token,
    });

    let proc = startEmbedded(dataDir, port, token);
    try {
      await waitFor('the controller to answer', () => client.controllerInfo().then(() => true), 60_000, 200);
      expect(proc.output()).toMatch(/Starting the embedded database/);
      await client.vms.create({ name: 'persisted', image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest' });
      await client.serviceAccounts.create({ name: 'ci', roles: ['compute:read'], token: 'ci-token-1234' });
    } finally {
      expect(await proc.stop()).toBe(0);
    }

    proc = startEmbedded(dataDir, port, token);
    try {
      await waitFor('the restarted controller', () => client.controllerInfo().then(() => true), 60_000, 200);
      const vm = await client.vms.get('persisted');
      expect(vm.status).toBe('pending');
      const ci = new GroveClient({
        url: `http://127.0.0.1:${port}`,
        serviceAccountName: 'ci',
        serviceAccountToken: 'ci-token-1234',
      });
      expect((await ci.vms.list()).map((v) => v.name)).toEqual(['persisted']);
    } finally {
      expect(await proc.stop()).toBe(0);
    }
  }, 120_000);

  it('refuses a second controller on the same data dir at once, naming the running one', async () => {
    const port = await freePort();
    const client = new GroveClient({
      url: `http://127.0.0.1:${port}`,
      serviceAccountName: 'bootstrap-admin',
      serviceAccountToken: 'embedded-admin-token',
    });
    const first = startEmbedded(dataDir, port, 'embedded-admin-token');
    try {
      await waitFor('the first controller to answer', () => client.controllerInfo().then(() => true), 60_000, 200);
      const second = startEmbedded(dataDir, await freePort(), 'embedded-admin-token');
      expect(await second.exited).toBe(1);
      expect(second.output()).toContain(
        `another controller (pid ${first.child.pid}) is running on the data dir ${dataDir}: the embedded database ` +
          'serves one controller',
      );
      // The first one is unharmed.
      expect((await client.controllerInfo()).version).toBeTruthy();
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // Its lock went with it: the next controller starts (and a stale lock of a killed one is taken over).
    const next = startEmbedded(dataDir, port, 'embedded-admin-token');
    try {
      await waitFor('the next controller to answer', () => client.controllerInfo().then(() => true), 60_000, 200);
    } finally {
      expect(await next.stop('SIGKILL')).toBeNull();
    }
    const afterCrash = startEmbedded(dataDir, port, 'embedded-admin-token');
    try {
      await waitFor('a controller after a crash', () => client.controllerInfo().then(() => true), 60_000, 200);
    } finally {
      expect(await afterCrash.stop()).toBe(0);
    }
  }, 120_000);
});
