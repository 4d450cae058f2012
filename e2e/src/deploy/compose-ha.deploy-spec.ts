import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchPeerCertificate, GroveClient } from '@grove/client';
import type { Worker } from '@grove/resources';
import { waitFor, type RunningProcess } from '@grove/testing';
import { BOOTSTRAP_ADMIN } from '../test-support/controller-process';
import { sessionCount } from '../test-support/synthetic-worker';
import { ComposeProject, freePorts, report } from './compose-project';
import { loggedFingerprints, Operator, servedFingerprint } from './operator';

const CONTROLLERS = ['controller-a', 'controller-b'] as const;

/**
 * docker/compose.ha.yml (docs/high-availability.md) as an operator runs it: two controller containers on one
 * Postgres behind HAProxy, which alone publishes ports. A synthetic worker on this host joins through HAProxy; the
 * controller container holding its session is stopped; the worker moves to the other and its VM goes on running.
 */
describe('docker/compose.ha.yml: two controllers behind HAProxy', () => {
  const project = `grove-deploy-ha-${randomBytes(3).toString('hex')}`;
  // Set, as the file recommends with several controllers: otherwise each first start could print its own token.
  const adminToken = randomBytes(24).toString('hex');
  let compose: ComposeProject;
  let operator: Operator;
  let home: string;
  let worker: RunningProcess;
  let admin: GroveClient;

  /** Where `GET /v1/workers` says the worker's session is, through HAProxy. */
  const sessionOf = async (name: string): Promise<Worker['session']> =>
    (await admin.workers.list()).find((w) => w.name === name)?.session;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-deploy-ha-'));
    operator = new Operator(join(home, 'operator'));
    compose = new ComposeProject('compose.ha.yml', project, await freePorts(), {
      GROVE_BOOTSTRAP_ADMIN_TOKEN: adminToken,
    });
    const start = Date.now();
    await compose.compose(['up', '-d']);
    await Promise.all(CONTROLLERS.map((service) => compose.untilHealthy(service)));
    // HAProxy sends nothing to a controller before two good checks of its own.
    await waitFor('HAProxy to serve the API', () => servedFingerprint(compose.url).catch(() => false), 60_000, 250);
    report(`compose.ha.yml: up -d to both controllers healthy in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    admin = new GroveClient({
      url: compose.url,
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: adminToken,
      certificatePem: (await fetchPeerCertificate(compose.url)).pem,
    });
  });

  afterAll(async () => {
    admin?.close();
    await operator?.stopWorkers();
    await compose?.compose(['down', '-v', '--timeout', '5']).catch((err: Error) => console.error(err.message));
    if (home) {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('both controllers serve one certificate, the one HAProxy passes through', async () => {
    const logged = await Promise.all(
      CONTROLLERS.map(async (service) => loggedFingerprints(await compose.logs(service))),
    );
    expect(logged[0]).toHaveLength(1);
    expect(logged[1]).toEqual(logged[0]);
    expect(await servedFingerprint(compose.url)).toBe(logged[0][0]);
    expect(await operator.login(compose.url, adminToken)).toContain(`fingerprint is: ${logged[0][0]}`);
  });

  it('a synthetic worker joins through HAProxy and runs a VM', async () => {
    // The port workers are told to dial is HAProxy's published gRPC port.
    expect((await admin.controllerInfo()).grpcPort).toBe(compose.ports.grpc);
    worker = await operator.startWorker(compose.url, 'deploy-ha-w1', await operator.workerTokenFile('deploy-workers'));
    await operator.groveOk(['create', 'vm', 'v1', '--image', 'any']);
    await operator.untilRunning('v1');
    const session = await waitFor('the worker session in the registry', () => sessionOf('deploy-ha-w1'), 30_000, 250);
    expect(session).toMatchObject({ up: true });
    expect(CONTROLLERS).toContain(session?.replica);
  });

  it('stopping the controller container that holds the worker moves it to the other; the VM keeps running', async () => {
    const before = await operator.vm('v1');
    const holder = (await sessionOf('deploy-ha-w1'))?.replica as (typeof CONTROLLERS)[number];
    const other = CONTROLLERS.find((service) => service !== holder);
    const sessionsBefore = sessionCount(worker);

    const start = Date.now();
    await compose.compose(['stop', holder]);
    const stopped = Date.now() - start;
    // It drained and exited by itself (Docker's kill would have left 137).
    expect(await compose.inspect(holder, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 0');

    await waitFor(
      `the worker's session on ${other}`,
      async () => {
        const session = await sessionOf('deploy-ha-w1');
        return session?.replica === other && session?.up;
      },
      60_000,
      250,
    );
    report(
      `compose.ha.yml: docker-compose stop ${holder} took ${(stopped / 1000).toFixed(1)} s; ` +
        `the worker was on ${other} ${((Date.now() - start) / 1000).toFixed(1)} s after the stop began`,
    );
    // A new session of the same worker process: it moved; it was not restarted.
    expect(sessionCount(worker)).toBeGreaterThan(sessionsBefore);
    const after = await operator.vm('v1');
    expect(after).toMatchObject({ uid: before.uid, status: 'running', worker: 'deploy-ha-w1', restart_count: 0 });
  });

  it('grove port-forward and grove exec reach the VM through the remaining controller', async () => {
    await operator.echoThroughPortForward('v1');
    expect(await operator.grove(['exec', 'vm', 'v1', '--', 'sh', '-c', 'echo moved; exit 3'])).toEqual({
      code: 3,
      stdout: 'moved\n',
      stderr: '',
    });
  });
});
