import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiError, GroveClient } from '@grove/client';
import { waitFor, type RunningProcess } from '@grove/testing';
import { BOOTSTRAP_ADMIN, startController, type ControllerProcess } from './test-support/controller-process';
import { dashboardQueries, readDashboard, withGrafanaVariables } from './test-support/grafana-dashboard';
import {
  ensurePrometheus,
  startPrometheus,
  workerMetricsTarget,
  type PrometheusProcess,
} from './test-support/prometheus';
import { untilRunning } from './test-support/running-vm';
import { startStandInTartWorker } from './test-support/stand-in-tart-worker';
import { SyntheticWorkers } from './test-support/synthetic-worker';

const SYNTHETIC = 'prom-synthetic';
const TART = 'prom-tart';
/** Images of the stand-in's registry: one to pull in each round (a cached image is not downloaded again), one broken. */
const image = (round: number) => `registry.grove.test/acme/ubuntu-${round}:latest`;
const MISSING = 'registry.grove.test/acme/missing:latest';
/** Bytes sent through each port-forward to the VM's echo port (and so received back). */
const FORWARDED = 100_000;
const ROUNDS = 2;
// A Tart worker registers the host's architecture; on a Linux x64 test machine that is amd64.
const ARCH: 'arm64' | 'amd64' = process.arch === 'arm64' ? 'arm64' : 'amd64';

/** Sends `data` through a port-forward to the echo port of VM `vm`, and closes it once all of it came back. */
async function echoThroughPortForward(client: GroveClient, vm: string, data: Buffer): Promise<Buffer> {
  const ws = await client.vms.portForward(vm, { port: 7 });
  const chunks: Buffer[] = [];
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (message: Buffer) => {
      chunks.push(message);
      received += message.length;
      if (received >= data.length) {
        ws.close();
      }
    });
    ws.once('error', reject);
    ws.once('close', () => resolve());
    ws.resume();
    ws.send(data);
  });
  return Buffer.concat(chunks);
}

/** Runs `echo <text>` in VM `vm` through `POST /v1/vms/{name}/exec` and returns its exit code. */
async function execEcho(client: GroveClient, vm: string, text: string): Promise<number | undefined> {
  for await (const event of client.vms.execStream(vm, { command: 'echo', args: [text] })) {
    if (event.event === 'exit') {
      return event.code;
    }
    if (event.event === 'error') {
      throw new Error(`exec in ${vm} failed: ${event.message}`);
    }
  }
  return undefined;
}

interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: unknown;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { datasource?: unknown; expr: string }[];
}

/** What Grafana needs to import the dashboard as it is, on any Prometheus data source the importer picks. */
describe('the Grafana dashboard (docs/grafana/grove.json)', () => {
  it('asks for its Prometheus data source and queries it in every panel, laid out without overlaps', () => {
    const dashboard = readDashboard();
    // 41: the dashboard JSON model of Grafana 12 (later versions migrate it when they load it).
    expect(dashboard.schemaVersion).toBe(41);
    expect((dashboard.templating as { list: unknown[] }).list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const panels = dashboard.panels as DashboardPanel[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const source = { type: 'prometheus', uid: '${datasource}' };
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect({ panel: panel.title, datasource: panel.datasource }).toEqual({ panel: panel.title, datasource: source });
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect({ panel: panel.title, datasource: target.datasource }).toEqual({
          panel: panel.title,
          datasource: source,
        });
      }
    }
    const overlaps = panels.flatMap((a, i) =>
      panels
        .slice(i + 1)
        .filter(
          (b) =>
            a.gridPos.x < b.gridPos.x + b.gridPos.w &&
            b.gridPos.x < a.gridPos.x + a.gridPos.w &&
            a.gridPos.y < b.gridPos.y + b.gridPos.h &&
            b.gridPos.y < a.gridPos.y + a.gridPos.h,
        )
        .map((b) => `${a.title} / ${b.title}`),
    );
    expect(overlaps).toEqual([]);
    expect(panels.every((p) => p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24)).toBe(true);
  });
});

/**
 * Debian's Prometheus scraping a dev cluster on loopback (issue 14, items 4 and 5): a controller serving HTTPS with its
 * own certificate, scraped with basic auth as docs/observability.md says, a worker on the synthetic runtime and one on
 * the stand-in `tart`, each scraped on its metrics listener, every second. The fleet's activity comes in two rounds,
 * the second after Prometheus saw the first, as in a fleet that has been running: a counter that appears already
 * counting shows no rate in Prometheus until it grows again, and the dashboard's rates need to see it grow.
 */
describe('Prometheus scraping the controller and the workers', () => {
  let home: string;
  let controller: ControllerProcess | undefined;
  let certificatePem: string;
  let client: GroveClient | undefined;
  let syntheticWorker: RunningProcess | undefined;
  let tartWorker: RunningProcess | undefined;
  let prometheus: PrometheusProcess | undefined;
  let syntheticTarget: string;
  let tartTarget: string;
  let startedAt: number;
  const workers = new SyntheticWorkers(
    () => ({ url: controller!.url, adminToken: controller!.adminToken, certificatePem }),
    () => home,
  );

  /** Polls Prometheus until every query answers its expected value; a timeout names those that did not. */
  async function untilPrometheusShows(what: string, expected: Record<string, number>): Promise<void> {
    let wrong: string[] = [];
    try {
      await waitFor(
        what,
        async () => {
          wrong = [];
          for (const [expr, value] of Object.entries(expected)) {
            const got = await prometheus!.value(expr);
            if (got !== value) {
              wrong.push(`${expr} = ${got} (expected ${value})`);
            }
          }
          return wrong.length === 0;
        },
        30_000,
        250,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; Prometheus shows ${wrong.join('; ')}`, { cause: err });
    }
  }

  /** What a user of the fleet does, once per round: VMs on both workers, a port-forward, an exec, a 404. */
  async function activity(client: GroveClient, round: number): Promise<void> {
    const synthetic = `syn-${round}`;
    await client.vms.create({
      name: synthetic,
      image: 'any',
      labels: { pool: 'synthetic' },
      startup_script: { script_content: `echo round ${round}` },
    });
    const tart = { os: 'linux' as const, arch: ARCH, cpu: 2, memory: 2048, labels: { pool: 'tart' } };
    await client.vms.create({ name: `pulled-${round}`, image: image(round), imagePullPolicy: 'Always', ...tart });
    await client.vms.create({ name: `missing-${round}`, image: MISSING, imagePullPolicy: 'Always', ...tart });
    if (round === 1) {
      // Asks for a worker label nobody has: pending, waiting for a worker, for good.
      await client.vms.create({ name: 'waiting', image: 'any', labels: { pool: 'nowhere' } });
    }

    await untilRunning(client, synthetic);
    const data = randomBytes(FORWARDED);
    expect((await echoThroughPortForward(client, synthetic, data)).equals(data)).toBe(true);
    expect(await execEcho(client, synthetic, `round ${round}`)).toBe(0);
    await expect(client.vms.get('no-such-vm')).rejects.toMatchObject({ status: 404 } satisfies Partial<ApiError>);
    // Each stand-in `tart` command is a Node process: a VM start (pull, clone, set, run, ip) takes seconds on a busy
    // machine.
    await untilRunning(client, `pulled-${round}`, 60_000);
    await waitFor(
      `VM missing-${round} failed`,
      async () => (await client.vms.get(`missing-${round}`)).status === 'failed',
    );

    await untilPrometheusShows(`round ${round} in Prometheus`, {
      [`grove_vms{status="running", worker="${SYNTHETIC}"}`]: round,
      [`grove_vms{status="running", worker="${TART}"}`]: round,
      [`grove_vms{status="failed", worker="${TART}"}`]: round,
      'grove_sessions_total{kind="port-forward", result="ok"}': round,
      'grove_sessions_total{kind="exec", result="ok"}': round,
      'grove_http_request_duration_seconds_count{method="GET", route="/v1/vms/:name", status="404"}': round,
      [`sum(grove_worker_exec_total{instance="${syntheticTarget}"})`]: round,
      [`grove_worker_tart_failures_total{instance="${tartTarget}", command="pull"}`]: round,
    });
  }

  beforeAll(async () => {
    // A run of this spec alone installs Prometheus as scripts/test.sh does; that may take a while once.
    ensurePrometheus();
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-prometheus-'));
    controller = await startController({ tls: true });
    certificatePem = readFileSync(join(controller.dataDir, 'controller.crt'), 'utf8');
    const api = new GroveClient({
      url: controller.url,
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: controller.adminToken,
      certificatePem,
    });
    client = api;
    syntheticWorker = await workers.start(SYNTHETIC, 'pool=synthetic');
    syntheticTarget = await workerMetricsTarget(syntheticWorker);
    tartWorker = await startStandInTartWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      certificatePem,
      name: TART,
      tartHome: join(home, 'tart'),
      images: {
        [image(1)]: { os: 'linux', cpu: 2, memoryMiB: 2048, diskGB: 10, compressedGB: 1.5 },
        [image(2)]: { os: 'linux', cpu: 2, memoryMiB: 2048, diskGB: 10, compressedGB: 2.5 },
        [MISSING]: { os: 'linux', failure: '404' },
      },
      extraArgs: ['--labels', 'pool=tart'],
    });
    tartTarget = await workerMetricsTarget(tartWorker);

    // As an operator would: the token in a file of its own, the controller's certificate as the only CA.
    const passwordFile = join(home, 'admin-token');
    writeFileSync(passwordFile, controller.adminToken, { mode: 0o600 });
    prometheus = await startPrometheus(join(home, 'prometheus'), [
      {
        job: 'grove-controller',
        targets: [`127.0.0.1:${controller.port}`],
        tls: { caFile: join(controller.dataDir, 'controller.crt'), serverName: 'grove-controller' },
        basicAuth: { username: BOOTSTRAP_ADMIN, passwordFile },
      },
      { job: 'grove-workers', targets: [syntheticTarget, tartTarget] },
    ]);
    startedAt = Date.now();
    await untilPrometheusShows('every target scraped', { 'count(up == 1)': 3, 'count(up)': 3 });

    for (let round = 1; round <= ROUNDS; round++) {
      try {
        await activity(api, round);
      } catch (err) {
        // What the workers said is where a VM that never ran, or a number that never came, is explained.
        const logs = [syntheticWorker, tartWorker].map((w) => w?.output().split('\n').slice(-40).join('\n'));
        throw new Error(`round ${round}: ${(err as Error).message}\n${logs.join('\n')}`, { cause: err });
      }
    }
  }, 600_000);

  afterAll(async () => {
    client?.close();
    await prometheus?.stop();
    await tartWorker?.stop();
    await workers.stopAll();
    await controller?.stop();
    if (home) {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('counts VMs running on their worker, port-forwards with their bytes, scheduling delays and VM steps', async () => {
    const value = (expr: string) => prometheus!.value(expr);
    // The VMs created through the API, by status and worker, and the one no worker can take.
    expect(await value(`grove_vms{status="running", worker="${SYNTHETIC}"}`)).toBe(ROUNDS);
    expect(await value(`grove_vms{status="pending", worker="${SYNTHETIC}"}`)).toBe(0);
    expect(await value(`grove_vms{status="running", worker="${TART}"}`)).toBe(ROUNDS);
    expect(await value(`grove_vms{status="failed", worker="${TART}"}`)).toBe(ROUNDS);
    expect(await value('grove_vms{status="pending", worker=""}')).toBe(1);
    expect(await value('grove_workers{state="online"}')).toBe(2);
    expect(await value(`grove_worker_session_up{worker="${SYNTHETIC}"}`)).toBe(1);
    // macOS VMs (the default) take a tart-vms slot each; the synthetic worker registered two.
    const slots = `worker="${SYNTHETIC}", resource="org.cirruslabs.tart-vms"`;
    expect(await value(`grove_worker_resources{${slots}, kind="used"}`)).toBe(ROUNDS);
    expect(await value(`grove_worker_resources{${slots}, kind="total"}`)).toBe(2);

    // Each port-forward is one session, with every byte both ways.
    expect(await value('grove_sessions_total{kind="port-forward", result="ok"}')).toBe(ROUNDS);
    expect(await value('grove_sessions_active{kind="port-forward"}')).toBe(0);
    expect(await value('grove_session_bytes_total{kind="port-forward", direction="to-target"}')).toBe(
      ROUNDS * FORWARDED,
    );
    expect(await value('grove_session_bytes_total{kind="port-forward", direction="from-target"}')).toBe(
      ROUNDS * FORWARDED,
    );

    // Six VMs were placed (three per round); the waiting one never was.
    expect(await value('grove_scheduling_delay_seconds_count')).toBe(3 * ROUNDS);
    const p50 = await value('histogram_quantile(0.5, rate(grove_scheduling_delay_seconds_bucket[5m]))');
    expect(Number.isFinite(p50)).toBe(true);
    expect(await value(`grove_vm_start_seconds_count{worker="${SYNTHETIC}"}`)).toBe(ROUNDS);

    // The workers time each step of every VM they started (the boot until the startup script's login); only the
    // Tart worker pulls (imagePullPolicy Always).
    for (const step of ['clone', 'configure', 'boot', 'startup-script']) {
      expect(await value(`grove_worker_vm_step_seconds_count{instance="${syntheticTarget}", step="${step}"}`)).toBe(
        ROUNDS,
      );
    }
    expect(await value(`grove_worker_vm_step_seconds_count{instance="${tartTarget}", step="pull"}`)).toBe(ROUNDS);
    expect(await value(`grove_worker_image_pull_bytes_total{instance="${tartTarget}", command="pull"}`)).toBe(4e9);
  });

  it('answers every query of the Grafana dashboard (docs/grafana/grove.json) with data', async () => {
    const queries = dashboardQueries(readDashboard());
    expect(queries.length).toBeGreaterThan(30);
    // Grafana's $__rate_interval is a few scrape intervals; here the window spans the whole run, so that a rate sees
    // both rounds of activity.
    const window = `${Math.ceil((Date.now() - startedAt) / 1000) + 10}s`;
    const variables = { __rate_interval: window, __interval: '15s', __range: window };
    const problems: string[] = [];
    for (const { panel, refId, expr } of queries) {
      const query = withGrafanaVariables(expr, variables);
      try {
        const { samples } = await prometheus!.query(query);
        if (samples.length === 0) {
          problems.push(`${panel} (${refId}): no data for ${query}`);
        } else if (!samples.some((s) => Number.isFinite(s.value))) {
          problems.push(`${panel} (${refId}): only NaN or infinite values for ${query}: ${JSON.stringify(samples)}`);
        }
      } catch (err) {
        problems.push(`${panel} (${refId}): ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
