import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { freePort, startNodeProcess, waitFor } from '@grove/testing';
import { runGrove } from './test-support/cli-process';
import { CLI_MAIN } from './test-support/paths';

/** Whether a loopback TCP port can be bound now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free port P whose next two are free too: `grove dev` puts worker sessions on P+1 and the SSH gateway on P+2, and a
 * busy machine (other tests' controllers, HAProxy) may hold either.
 */
async function freeDevPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port < 65534 && (await portFree(port + 1)) && (await portFree(port + 2))) {
      return port;
    }
  }
  throw new Error('no free run of three loopback ports');
}

/** The "done when": `grove dev --workers 2`, then `grove create vm v1 --image any` runs, from the CLI alone. */
describe('grove dev --workers 2', () => {
  it('starts a controller and two synthetic workers, runs a VM, and cleans up on Ctrl-C', async () => {
    const home = mkdtempSync(join(tmpdir(), 'grove-e2e-dev-'));
    const dataDir = join(home, 'dev');
    const port = await freeDevPort();
    const env: NodeJS.ProcessEnv = { ...process.env, GROVE_HOME: home };
    delete env['GROVE_DATABASE_URL'];
    const dev = startNodeProcess(
      [CLI_MAIN, 'dev', '--workers', '2', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir],
      env,
    );
    try {
      await waitFor('the cluster', () => /Press Ctrl-C to stop/.test(dev.output()), 90_000, 100);
      await waitFor('both workers', () => (dev.output().match(/: connected to http:/g) ?? []).length === 2, 20_000);
      expect(dev.output()).toMatch(/Workers: dev-worker-1, dev-worker-2 \(synthetic runtime/);

      const created = await runGrove(['create', 'vm', 'v1', '--image', 'any'], { home });
      expect(created).toMatchObject({ code: 0, stdout: 'VM "v1" created (status pending).\n' });
      const vm = await waitFor(
        'v1 running',
        async () => {
          const got = await runGrove(['get', 'vm', 'v1', '-o', 'json'], { home });
          const parsed = JSON.parse(got.stdout) as { status: string; worker: string; localName: string };
          return parsed.status === 'running' ? parsed : undefined;
        },
        20_000,
        100,
      );
      expect(vm.worker).toMatch(/^dev-worker-[12]$/);
      // Without --insecure-allow-host-dirs, host directories need a cluster policy.
      const shared = await runGrove(['create', 'vm', 'v-shared', '--image', 'any', '--host-dirs', `src:${home}`], {
        home,
      });
      expect(shared.code).toBe(1);
      expect(shared.stderr).toContain('is disallowed by policy, check your cluster settings');
      const workers = await runGrove(['list', 'workers'], { home });
      expect(workers.stdout).toMatch(/dev-worker-1[\s\S]*dev-worker-2/);

      dev.child.kill('SIGINT');
      expect(await dev.exited).toBe(0);
      const vmsDir = join(dataDir, 'workers', vm.worker, 'synthetic', 'vms');
      // Workers stop and delete their VMs when they stop.
      expect(existsSync(vmsDir) ? readdirSync(vmsDir) : []).toEqual([]);
      expect(dev.output()).toMatch(new RegExp(`\\[${vm.worker}\\] .*stopped`));
    } finally {
      await dev.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }, 150_000);
});

/** `grove dev --insecure-allow-host-dirs` (issue 12; orchard-2026.md §1.2.12). */
describe('grove dev --insecure-allow-host-dirs', () => {
  it('lets VMs share host directories without a cluster policy', async () => {
    const home = mkdtempSync(join(tmpdir(), 'grove-e2e-dev-dirs-'));
    const port = await freeDevPort();
    const env: NodeJS.ProcessEnv = { ...process.env, GROVE_HOME: home };
    delete env['GROVE_DATABASE_URL'];
    const dev = startNodeProcess(
      [
        CLI_MAIN,
        'dev',
        '--workers',
        '0',
        '--listen',
        `127.0.0.1:${port}`,
        '--data-dir',
        join(home, 'dev'),
        '--insecure-allow-host-dirs',
      ],
      env,
    );
    try {
      await waitFor('the cluster', () => /Press Ctrl-C to stop/.test(dev.output()), 90_000, 100);
      expect(dev.output()).toContain('Host directories: every path is allowed (--insecure-allow-host-dirs)');
      const created = await runGrove(
        ['create', 'vm', 'v-shared', '--image', 'any', '--host-dirs', `src:${home}:ro`, '-o', 'json'],
        { home },
      );
      expect(created.code).toBe(0);
      expect(JSON.parse(created.stdout)).toMatchObject({ hostDirs: [{ name: 'src', path: home, ro: true }] });
      const settings = await runGrove(['get', 'cluster-settings', '-o', 'json'], { home });
      expect(JSON.parse(settings.stdout)).toMatchObject({ hostDirPolicies: [] });
      dev.child.kill('SIGINT');
      expect(await dev.exited).toBe(0);
    } finally {
      await dev.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }, 150_000);
});
