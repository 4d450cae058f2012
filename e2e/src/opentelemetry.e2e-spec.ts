import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GroveClient } from '@grove/client';
import type { Vm } from '@grove/resources';
import { createTestDatabase, waitFor, type RunningProcess, type TestDatabase } from '@grove/testing';
import { WebSocket } from 'ws';
import {
  adminClient,
  BOOTSTRAP_ADMIN,
  startController,
  type ControllerProcess,
} from './test-support/controller-process';
import { OtlpReceiver, type ReceivedSpan } from './test-support/otlp-receiver';
import { REPO_ROOT } from './test-support/paths';
import { untilRunning } from './test-support/running-vm';
import { startSyntheticWorker } from './test-support/synthetic-worker';

/** Preloaded into the processes: logs what they load of @opentelemetry/*. */
const MODULE_RECORDER = join(REPO_ROOT, 'e2e', 'fixtures', 'record-otel-modules.cjs');
/** A client's trace the port-forward continues (W3C example ids). */
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

/** The environment of a controller or worker: OTLP settings (or none) and the module recorder. */
function processEnv(moduleLog: string, otel: Record<string, string>): NodeJS.ProcessEnv {
  return {
    // Whatever the test runner has, these processes see only what the test gives.
    OTEL_EXPORTER_OTLP_ENDPOINT: '',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: '',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
    ...otel,
    NODE_OPTIONS: `--require ${MODULE_RECORDER}`,
    GROVE_TEST_MODULE_LOG: moduleLog,
  };
}

/** The @opentelemetry packages a process loaded, by name. */
function loadedPackages(moduleLog: string): Set<string> {
  const lines = existsSync(moduleLog) ? readFileSync(moduleLog, 'utf8').split('\n') : [];
  return new Set(lines.filter(Boolean).map((line) => line.split('/').slice(0, 2).join('/')));
}

/** A port-forward to the VM's echo port with extra request headers: sends `data`, resolves once it came back. */
async function echoSession(
  controller: ControllerProcess,
  vm: string,
  data: Buffer,
  headers: Record<string, string>,
): Promise<void> {
  const auth = Buffer.from(`${BOOTSTRAP_ADMIN}:${controller.adminToken}`).toString('base64');
  const ws = new WebSocket(`${controller.url.replace(/^http/, 'ws')}/v1/vms/${vm}/port-forward?port=7&wait=10`, {
    headers: { authorization: `Basic ${auth}`, ...headers },
  });
  await new Promise<void>((resolve, reject) => {
    let received = 0;
    ws.once('error', reject);
    ws.once('open', () => ws.send(data));
    ws.on('message', (message: Buffer) => {
      received += message.length;
      if (received >= data.length) {
        ws.close();
      }
    });
    ws.once('close', () => (received >= data.length ? resolve() : reject(new Error(`echoed ${received} bytes`))));
  });
}

/** `POST /v1/vms/{vm}/exec`: runs a program and resolves with the NDJSON events once it ended. */
async function execProgram(controller: ControllerProcess, vm: string, argv: string[]): Promise<unknown[]> {
  const auth = Buffer.from(`${BOOTSTRAP_ADMIN}:${controller.adminToken}`).toString('base64');
  const response = await fetch(`${controller.url}/v1/vms/${vm}/exec`, {
    method: 'POST',
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    body: JSON.stringify({ command: argv[0], args: argv.slice(1) }),
  });
  expect(response.status).toBe(200);
  return (await response.text())
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as unknown);
}

/** The one span of `service` named `name` that satisfies `where`, once it arrived. */
function spanOf(
  receiver: OtlpReceiver,
  service: string,
  name: string,
  where: (span: ReceivedSpan) => boolean = () => true,
): Promise<ReceivedSpan> {
  return waitFor(
    `span ${name} of ${service}`,
    () => receiver.spans.find((s) => s.service === service && s.name === name && where(s)),
    20_000,
    50,
  );
}

/**
 * A controller and a worker process exporting to a real OTLP/HTTP receiver (issue 14): the series of their /metrics
 * as OTLP metrics, and the spans of a port-forward, an exec and a VM start, each trace shared by both processes.
 */
describe('OpenTelemetry export', () => {
  let receiver: OtlpReceiver;
  let controller: ControllerProcess;
  let worker: RunningProcess;
  let client: GroveClient;
  let home: string;
  const WORKER = 'otel-worker';

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-otel-'));
    receiver = await OtlpReceiver.start();
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    controller = await startController({ env: processEnv(join(home, 'controller-modules.log'), otel) });
    client = adminClient(controller);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: WORKER,
      dataDir: join(home, WORKER),
      env: { ...process.env, ...processEnv(join(home, 'worker-modules.log'), otel) },
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await controller?.stop();
    await receiver?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it("joins the controller's and the worker's spans of a VM start, a port-forward and an exec into one trace each", async () => {
    await client.vms.create({
      name: 'traced',
      image: 'any',
      os: 'linux',
      startup_script: { script_content: 'echo traced' },
    });
    const vm: Vm = await untilRunning(client, 'traced');
    const data = randomBytes(1000);
    await echoSession(controller, vm.name, data, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
    const events = await execProgram(controller, vm.name, ['echo', 'hello']);
    expect(events).toContainEqual({ event: 'exit', code: 0 });

    // The port-forward continues the client's trace; the worker's span is a child of the controller's.
    const forward = await spanOf(receiver, 'grove-controller', 'port-forward');
    expect(forward).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: CLIENT_SPAN, kind: 2 });
    expect(forward.attributes).toMatchObject({
      'grove.session.kind': 'port-forward',
      'grove.session.result': 'ok',
      'grove.session.bytes_to_target': 1000,
      'grove.session.bytes_from_target': 1000,
      'grove.vm.name': 'traced',
      'grove.worker.name': WORKER,
      'grove.port': 7,
    });
    const workerForward = await spanOf(receiver, 'grove-worker', 'worker.port-forward');
    expect(workerForward).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: forward.spanId });
    expect(workerForward.attributes).toMatchObject({
      'grove.session.result': 'ok',
      'grove.session.bytes_to_target': 1000,
      'grove.vm.uid': vm.uid,
    });
    const connect = await spanOf(receiver, 'grove-worker', 'worker.connect');
    expect(connect).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: workerForward.spanId });

    // The exec had no traceparent: a new trace, which the worker's span joins.
    const exec = await spanOf(receiver, 'grove-controller', 'exec');
    expect(exec.parentSpanId).toBe('');
    expect(exec.traceId).not.toBe(CLIENT_TRACE);
    expect(exec.attributes).toMatchObject({
      'grove.session.result': 'ok',
      'grove.exec.exit_code': 0,
      'grove.exec.endpoint': 'http',
      'grove.session.bytes_from_target': 'hello\n'.length,
    });
    const workerExec = await spanOf(receiver, 'grove-worker', 'worker.exec');
    expect(workerExec).toMatchObject({ traceId: exec.traceId, parentSpanId: exec.spanId });
    expect(workerExec.attributes).toMatchObject({ 'grove.exec.result': 'exited', 'grove.exec.program': 'echo' });
    expect(['agent', 'ssh']).toContain(workerExec.attributes['grove.exec.via']);
    const execStart = await spanOf(receiver, 'grove-worker', 'worker.exec.start');
    expect(execStart).toMatchObject({ traceId: exec.traceId, parentSpanId: workerExec.spanId });

    // The VM start: its trace id is the VM's uid; the worker's steps are children of the controller's root span.
    const traceId = vm.uid.replace(/-/g, '');
    const start = await spanOf(receiver, 'grove-controller', 'vm.start');
    expect(start).toMatchObject({ traceId, parentSpanId: '' });
    expect(start.attributes).toMatchObject({ 'grove.vm.name': 'traced', 'grove.worker.name': WORKER });
    for (const name of ['vm.schedule', 'vm.worker-start']) {
      expect(await spanOf(receiver, 'grove-controller', name)).toMatchObject({ traceId, parentSpanId: start.spanId });
    }
    for (const step of ['clone', 'configure', 'boot', 'startup-script']) {
      const span = await spanOf(receiver, 'grove-worker', `worker.vm.${step}`);
      expect(span).toMatchObject({ traceId, parentSpanId: start.spanId });
      expect(span.endMs).toBeGreaterThanOrEqual(span.startMs);
    }
    expect(new Set(receiver.spans.map((s) => s.resource['service.instance.id']))).toContain(WORKER);
  });

  it('exports the series of /metrics, labels as attributes, over OTLP/HTTP protobuf', async () => {
    const running = await waitFor(
      'grove_vms of the running VM',
      () =>
        receiver
          .pointsOf('grove-controller', 'grove_vms')
          .find((p) => p.attributes['status'] === 'running' && p.attributes['worker'] === WORKER && p.value === 1),
      20_000,
      50,
    );
    expect(running.type).toBe('gauge');
    expect(running.resource['grove.replica.name']).toEqual(expect.any(String));
    const sessions = await waitFor(
      'grove_sessions_total of the exec',
      () =>
        receiver
          .pointsOf('grove-controller', 'grove_sessions_total')
          .find((p) => p.attributes['kind'] === 'exec' && p.attributes['result'] === 'ok' && p.value! >= 1),
      20_000,
      50,
    );
    expect(sessions).toMatchObject({ type: 'sum', monotonic: true });
    const forwarded = await waitFor(
      'grove_session_bytes_total of the port-forward',
      () =>
        receiver
          .pointsOf('grove-controller', 'grove_session_bytes_total')
          .find(
            (p) =>
              p.attributes['kind'] === 'port-forward' && p.attributes['direction'] === 'to-target' && p.value! >= 1000,
          ),
      20_000,
      50,
    );
    expect(forwarded.unit).toBe('By');

    const clone = await waitFor(
      'grove_worker_vm_step_seconds of the clone',
      () =>
        receiver.pointsOf('grove-worker', 'grove_worker_vm_step_seconds').find((p) => p.attributes['step'] === 'clone'),
      20_000,
      50,
    );
    expect(clone).toMatchObject({ type: 'histogram', unit: 's', count: 1 });
    expect(clone.counts).toHaveLength(clone.bounds!.length + 1);
    expect(clone.resource).toMatchObject({ 'service.instance.id': WORKER, 'grove.worker.name': WORKER });

    expect(new Set(receiver.requests.map((r) => r.contentType))).toEqual(new Set(['application/x-protobuf']));
    for (const log of ['controller-modules.log', 'worker-modules.log']) {
      expect(loadedPackages(join(home, log))).toContain('@opentelemetry/sdk-metrics');
    }
  });
});

/**
 * A session that reaches the replica without the worker's connection is relayed to the one holding it: the frames cross
 * that replica unchanged, so the worker's span is still a child of the span of the replica the client reached.
 */
describe('OpenTelemetry export of a relayed session', () => {
  let receiver: OtlpReceiver;
  let database: TestDatabase;
  let holder: ControllerProcess;
  let entry: ControllerProcess;
  let worker: RunningProcess;
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-otel-relay-'));
    receiver = await OtlpReceiver.start();
    database = await createTestDatabase();
    const otel = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '100' };
    const replica = (name: string) =>
      startController({
        databaseUrl: database.url,
        args: ['--replica-name', name],
        env: processEnv(join(home, `${name}-modules.log`), otel),
      });
    holder = await replica('otel-holder');
    // The bootstrap token of the replica started last is the one both accept.
    entry = await replica('otel-entry');
    worker = await startSyntheticWorker({
      controllerUrl: holder.url,
      adminToken: entry.adminToken,
      name: 'otel-relay-worker',
      dataDir: join(home, 'worker'),
      env: { ...process.env, ...processEnv(join(home, 'worker-modules.log'), otel) },
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await entry?.stop();
    await holder?.stop();
    await database?.drop();
    await receiver?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it("keeps the client's trace through the relay, the worker's span a child of the entry replica's", async () => {
    const client = adminClient(entry);
    const session = (await client.workers.list()).find((w) => w.name === 'otel-relay-worker')?.session;
    expect(session).toMatchObject({ up: true, replica: 'otel-holder' });
    await client.vms.create({ name: 'relayed', image: 'any', os: 'linux' });
    await untilRunning(client, 'relayed');
    await echoSession(entry, 'relayed', randomBytes(500), { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });

    const forward = await spanOf(receiver, 'grove-controller', 'port-forward');
    expect(forward).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: CLIENT_SPAN });
    expect(forward.resource['grove.replica.name']).toBe('otel-entry');
    const workerForward = await spanOf(receiver, 'grove-worker', 'worker.port-forward');
    expect(workerForward).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: forward.spanId });
    expect(workerForward.attributes).toMatchObject({ 'grove.session.bytes_to_target': 500 });
  });
});

/**
 * The same processes without an OTLP endpoint load nothing of the OpenTelemetry SDK (so nothing can be exported, not
 * even to the SDK's default endpoint) and say nothing of it.
 */
describe('OpenTelemetry export off', () => {
  let controller: ControllerProcess;
  let worker: RunningProcess;
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-otel-off-'));
    // Settings that only matter once an endpoint is given: alone, they turn nothing on.
    const otel = { OTEL_SERVICE_NAME: 'grove-unexported', OTEL_METRIC_EXPORT_INTERVAL: '500' };
    controller = await startController({ env: processEnv(join(home, 'controller-modules.log'), otel) });
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: 'otel-off-worker',
      dataDir: join(home, 'worker'),
      env: { ...process.env, ...processEnv(join(home, 'worker-modules.log'), otel) },
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('loads no OpenTelemetry SDK module through a VM start, a port-forward and an exec', async () => {
    const client = adminClient(controller);
    await client.vms.create({ name: 'untraced', image: 'any', os: 'linux' });
    await untilRunning(client, 'untraced');
    await echoSession(controller, 'untraced', randomBytes(100), {
      traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`,
    });
    expect(await execProgram(controller, 'untraced', ['echo', 'hi'])).toContainEqual({ event: 'exit', code: 0 });

    for (const log of ['controller-modules.log', 'worker-modules.log']) {
      // prom-client loads the API for its exemplars in any case; nothing else may be.
      expect([...loadedPackages(join(home, log))]).toEqual(['@opentelemetry/api']);
    }
    expect(controller.output()).not.toMatch(/OpenTelemetry/);
    expect(worker.output()).not.toMatch(/OpenTelemetry/);
  });
});
