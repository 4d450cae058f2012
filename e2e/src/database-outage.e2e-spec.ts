import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  restartPostgres,
  startPostgres,
  stopPostgres,
  waitFor,
  type PostgresCluster,
  type RunningProcess,
} from '@grove/testing';
import { BOOTSTRAP_ADMIN, startController, type ControllerProcess } from './test-support/controller-process';
import { startSyntheticWorker } from './test-support/synthetic-worker';

interface Answer {
  op: 'create' | 'delete';
  vm: string;
  status: number;
  retryAfter: string | null;
  body: string;
}

/** A stack trace line as node prints them: "    at fn (file.js:1:2)" or "    at file.js:1:2". */
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

/**
 * Issue 11, part 4, as an operator meets it: `pg_ctl restart -m fast` of the controller's Postgres under a loop of
 * creates and deletes. Requests meanwhile get 503 with Retry-After (never another 5xx), the controller logs one line
 * when the database goes away and one when it is back (no stack traces), nothing acknowledged is lost, and the
 * scheduler and the worker carry on by themselves. The Postgres is the test's own: the run's shared cluster is never
 * restarted.
 */
describe('a Postgres restart under load', () => {
  let cluster: PostgresCluster;
  let controller: ControllerProcess;
  let worker: RunningProcess | undefined;
  let home: string;
  const workerName = `outage-worker-${process.pid}`;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-outage-'));
    cluster = await startPostgres();
    controller = await startController({ databaseUrl: cluster.url });
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: workerName,
      dataDir: join(home, workerName),
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await controller?.stop();
    if (cluster) {
      stopPostgres(cluster);
    }
    rmSync(home, { recursive: true, force: true });
  });

  const authorization = () => `Basic ${Buffer.from(`${BOOTSTRAP_ADMIN}:${controller.adminToken}`).toString('base64')}`;

  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${controller.url}${path}`, {
      method,
      headers: {
        authorization: authorization(),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  }

  it('answers 503 with Retry-After meanwhile, logs the outage once, loses nothing and carries on', async () => {
    const answers: Answer[] = [];
    let running = true;
    let serial = 0;

    /** Creates VMs that no worker takes (they stay pending), and deletes every other one right away. */
    const loop = async (id: number): Promise<void> => {
      while (running) {
        const vm = `load-${id}-${++serial}`;
        const created = await call('POST', '/v1/vms', { name: vm, image: 'i', labels: { pool: 'nowhere' } });
        answers.push({
          op: 'create',
          vm,
          status: created.status,
          retryAfter: created.headers.get('retry-after'),
          body: await created.text(),
        });
        if (created.status === 200 && serial % 2 === 0) {
          const deleted = await call('DELETE', `/v1/vms/${vm}`);
          answers.push({
            op: 'delete',
            vm,
            status: deleted.status,
            retryAfter: deleted.headers.get('retry-after'),
            body: await deleted.text(),
          });
        }
      }
    };
    const acknowledged = () => answers.filter((a) => a.op === 'create' && a.status === 200).length;

    const loops = [1, 2, 3, 4].map((id) => loop(id));
    let loopsDone: Promise<void> | undefined;
    try {
      await waitFor('creates before the restart', () => acknowledged() >= 20, 30_000);
      await restartPostgres(cluster);
      const afterRestart = acknowledged();
      await waitFor(
        'the controller to log that the database is back',
        () => /database is back after/.test(controller.output()),
        30_000,
        100,
      );
      await waitFor('creates after the restart', () => acknowledged() >= afterRestart + 20, 30_000);
    } finally {
      running = false;
      loopsDone = Promise.all(loops).then(() => undefined);
      await loopsDone;
    }

    // Every answer was 200, or 503 with Retry-After: no 500, no other error.
    const unexpected = answers.filter((a) => a.status !== 200 && a.status !== 503);
    expect(unexpected).toEqual([]);
    const unavailable = answers.filter((a) => a.status === 503);
    expect(unavailable.length).toBeGreaterThan(0);
    for (const answer of unavailable) {
      expect(answer.retryAfter).toMatch(/^[12]$/);
      expect(JSON.parse(answer.body)).toEqual({ message: expect.stringMatching(/database is unreachable/) });
    }

    // One line when the database went away, one when it came back, and not one stack trace.
    const log = controller.output();
    expect(log.match(/database unreachable: [^\n]*answering 503 until it is back/g)).toHaveLength(1);
    expect(log.match(/database is back after \d+\.\d s/g)).toHaveLength(1);
    expect(log).not.toMatch(STACK_LINE);
    expect(log).not.toMatch(/unexpected error|scheduling pass failed/);

    // Nothing acknowledged is lost: every created VM whose delete was not acknowledged is there, every one whose
    // delete was is gone.
    const deleted = new Set(answers.filter((a) => a.op === 'delete' && a.status === 200).map((a) => a.vm));
    const deleteUnknown = new Set(answers.filter((a) => a.op === 'delete' && a.status !== 200).map((a) => a.vm));
    const created = answers.filter((a) => a.op === 'create' && a.status === 200).map((a) => a.vm);
    const missing: string[] = [];
    const resurrected: string[] = [];
    for (const vm of created) {
      if (deleteUnknown.has(vm)) {
        continue;
      }
      const res = await call('GET', `/v1/vms/${vm}`);
      await res.arrayBuffer();
      if (deleted.has(vm) && res.status !== 404) {
        resurrected.push(`${vm}: ${res.status}`);
      } else if (!deleted.has(vm) && res.status !== 200) {
        missing.push(`${vm}: ${res.status}`);
      }
    }
    expect({ missing, resurrected }).toEqual({ missing: [], resurrected: [] });
    expect(deleted.size).toBeGreaterThan(0);

    // The scheduler and the worker's session carry on by themselves: a new VM is placed and runs.
    const vm = `after-outage-${process.pid}`;
    expect((await call('POST', '/v1/vms', { name: vm, image: 'i', os: 'linux' })).status).toBe(200);
    const running_ = await waitFor(
      `VM ${vm} to run on ${workerName}`,
      async () => {
        const res = await call('GET', `/v1/vms/${vm}`);
        const body = (await res.json()) as { worker: string; status: string };
        return body.worker === workerName && body.status === 'running' ? body : undefined;
      },
      60_000,
      250,
    );
    expect(running_.worker).toBe(workerName);
  }, 180_000);
});
