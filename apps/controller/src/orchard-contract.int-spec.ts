import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { type JsonSchema, validateJson } from './test-support/json-schema';
import {
  CLUSTER_SETTINGS_PROPERTIES,
  CONTROLLER_INFO_PROPERTIES,
  ERROR_PROPERTIES,
  EVENT_PROPERTIES,
  EVENT_REQUIRED,
  SERVICE_ACCOUNT_PROPERTIES,
  SERVICE_ACCOUNT_REQUIRED,
  VM_PROPERTIES,
  VM_REQUIRED,
  WATCH_TYPES,
  WORKER_PROPERTIES,
  WORKER_REQUIRED,
} from './test-support/orchard-schemas';
import { rawRequest } from './test-support/raw-http';
import { ADMIN, TestController } from './test-support/test-controller';

/**
 * Grove's deviations from Orchard that show in these operations, all documented in docs/api-compatibility.md: the
 * only departures from Orchard's schemas and status codes this test lets through.
 */
const DEVIATIONS = {
  /** Read-only fields Grove adds to a resource. */
  extraFields: {
    worker: {
      // The controller replica holding the worker's session (docs/high-availability.md).
      session: {
        type: 'object',
        properties: {
          replica: { type: 'string' },
          connected_at: { type: 'string', format: 'date-time' },
          up: { type: 'boolean' },
        },
        required: ['replica', 'connected_at', 'up'],
        additionalProperties: false,
      },
    },
    controllerInfo: { replica: { type: 'string' }, grpcPort: { type: 'integer', minimum: 1 } },
  } satisfies Record<string, Record<string, JsonSchema>>,
  /** Orchard's reads return the token in clear; Grove stores a hash and returns it from POST and a token-setting PUT. */
  tokenOnlyWhenSet: ['GET /v1/service-accounts', 'GET /v1/service-accounts/{name}'],
  /** Event kinds Grove adds: `audit` records of port-forward, exec and SSH sessions, written by the controller. */
  extraEventKinds: ['audit'],
  /** Status codes: [operation, Orchard's, Grove's]. */
  statuses: [
    ['invalid input (e.g. PUT /v1/service-accounts/{name} without token)', 412, 400],
    ['DELETE of a missing worker or service account', 200, 404],
    ['missing roles', 401, 403],
  ] as const,
};

const ORCHARD_VERSION = 'Orchard/0.45.0-b30bb5b';

function schema(
  properties: Record<string, JsonSchema>,
  required: readonly string[],
  extra: Record<string, JsonSchema> = {},
): JsonSchema {
  return { type: 'object', properties: { ...properties, ...extra }, required, additionalProperties: false };
}

const VM = schema(VM_PROPERTIES, VM_REQUIRED);
const WORKER = schema(WORKER_PROPERTIES, WORKER_REQUIRED, DEVIATIONS.extraFields.worker);
const SERVICE_ACCOUNT = schema(SERVICE_ACCOUNT_PROPERTIES, SERVICE_ACCOUNT_REQUIRED);
const SERVICE_ACCOUNT_READ = schema(
  SERVICE_ACCOUNT_PROPERTIES,
  SERVICE_ACCOUNT_REQUIRED.filter((f) => f !== 'token'),
);
const CLUSTER_SETTINGS = schema(CLUSTER_SETTINGS_PROPERTIES, []);
const EVENT = schema(
  {
    ...EVENT_PROPERTIES,
    kind: { type: 'string', enum: ['log_line', ...DEVIATIONS.extraEventKinds] },
  },
  EVENT_REQUIRED,
);
const CONTROLLER_INFO = schema(
  CONTROLLER_INFO_PROPERTIES,
  ['version', 'capabilities'],
  DEVIATIONS.extraFields.controllerInfo,
);
const ERROR: JsonSchema = { type: 'object', properties: ERROR_PROPERTIES, required: ['message'] };
const list = (items: JsonSchema): JsonSchema => ({ type: 'array', items });

/** Go's zero time, which Orchard's client sends for every unset time field (time.Time is never omitted). */
const ZERO = '0001-01-01T00:00:00Z';

describe("Orchard's API contract (requests shaped as Orchard's Go client sends them)", () => {
  let ctl: TestController;
  let port: number;
  const covered = new Set<string>();

  beforeAll(async () => {
    ctl = await TestController.start();
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    port = (ctl.app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await ctl.close();
  });

  /**
   * A request as `pkg/client` makes it: Basic auth, `User-Agent: Orchard/…`, `Accept-Encoding: gzip` (Go's
   * transport), a JSON body without `Content-Type`; a request without a body carries `Content-Type: application/json`
   * (as many clients set it on every request).
   */
  async function orchard(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    auth = ADMIN,
  ): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
    covered.add(`${method} ${path.replace(/\?.*$/, '')}`);
    const headers: Record<string, string> = {
      authorization: auth,
      'user-agent': ORCHARD_VERSION,
      'accept-encoding': 'gzip',
    };
    if (body === undefined) {
      headers['content-type'] = 'application/json';
    }
    const res = await rawRequest(port, {
      method,
      path,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // Go's transport asked for gzip by itself, so it also decompresses by itself.
    const bytes = res.headers['content-encoding'] === 'gzip' ? gunzipSync(res.body) : res.body;
    const text = bytes.toString('utf8');
    return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
  }

  function conforms(what: JsonSchema, value: unknown): void {
    expect(validateJson(what, value)).toEqual([]);
  }

  it('serves every operation, each answer valid against Orchard’s schema', async () => {
    // GET /v1/ and controller info.
    expect((await orchard('GET', '/v1/')).status).toBe(200);
    const info = await orchard('GET', '/v1/controller/info');
    expect(info.status).toBe(200);
    conforms(CONTROLLER_INFO, info.body);

    // Cluster settings: GET, PUT (body as `orchard set cluster-settings` sends it).
    const settings = await orchard('GET', '/v1/cluster-settings');
    expect(settings.status).toBe(200);
    conforms(CLUSTER_SETTINGS, settings.body);
    const put = await orchard('PUT', '/v1/cluster-settings', {
      hostDirPolicies: [{ pathPrefix: '/Users/ci/src', ro: true }],
      schedulerProfile: 'distribute-load',
    });
    expect(put.status).toBe(200);
    conforms(CLUSTER_SETTINGS, put.body);

    // Service accounts.
    const created = await orchard('POST', '/v1/service-accounts', {
      name: 'ci',
      createdAt: ZERO,
      roles: ['compute:read', 'compute:write'],
    });
    expect(created.status).toBe(200);
    conforms(SERVICE_ACCOUNT, created.body);
    const accounts = await orchard('GET', '/v1/service-accounts');
    expect(accounts.status).toBe(200);
    conforms(list(SERVICE_ACCOUNT_READ), accounts.body);
    const account = await orchard('GET', '/v1/service-accounts/ci');
    expect(account.status).toBe(200);
    conforms(SERVICE_ACCOUNT_READ, account.body);
    const rotated = await orchard('PUT', '/v1/service-accounts/ci', {
      name: 'ci',
      createdAt: ZERO,
      token: 'new-token',
      roles: ['compute:read'],
    });
    expect(rotated.status).toBe(200);
    conforms(SERVICE_ACCOUNT, rotated.body);
    expect(rotated.body.token).toBe('new-token');

    // Workers: registration and heartbeat as the worker sends them (GET, then PUT it back with last_seen).
    const now = new Date().toISOString();
    const registered = await orchard('POST', '/v1/workers', {
      name: 'mac-1',
      createdAt: ZERO,
      last_seen: now,
      machine_id: 'C0FFEE00-0000-0000-0000-000000000001',
      resources: { 'org.cirruslabs.tart-vms': 2, 'org.cirruslabs.logical-cores': 8 },
      defaultCPU: 4,
      defaultMemory: 8192,
      arch: 'arm64',
      runtime: 'tart',
    });
    expect(registered.status).toBe(200);
    conforms(WORKER, registered.body);
    const workers = await orchard('GET', '/v1/workers');
    expect(workers.status).toBe(200);
    conforms(list(WORKER), workers.body);
    const worker = await orchard('GET', '/v1/workers/mac-1');
    expect(worker.status).toBe(200);
    conforms(WORKER, worker.body);
    const heartbeat = await orchard('PUT', '/v1/workers/mac-1', {
      ...worker.body,
      last_seen: new Date().toISOString(),
    });
    expect(heartbeat.status).toBe(200);
    conforms(WORKER, heartbeat.body);

    // VMs: create as `orchard create vm` does (explicit cpu/memory, headless, admin/admin, zero times).
    const vmBody = {
      name: 'build-1',
      createdAt: ZERO,
      image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest',
      imagePullPolicy: 'IfNotPresent',
      cpu: 4,
      memory: 8192,
      headless: true,
      os: 'darwin',
      arch: 'arm64',
      runtime: 'tart',
      observedGeneration: 0,
      username: 'admin',
      password: 'admin',
      restart_policy: 'Never',
      restarted_at: ZERO,
      scheduled_at: ZERO,
      started_at: ZERO,
      generation: 0,
    };
    const vm = await orchard('POST', '/v1/vms', vmBody);
    expect(vm.status).toBe(200);
    conforms(VM, vm.body);
    expect(vm.body).not.toHaveProperty('startup_script');
    const scripted = await orchard('POST', '/v1/vms', {
      ...vmBody,
      name: 'build-2',
      startup_script: { script_content: 'echo $GREETING', env: { GREETING: 'Hello' } },
      labels: { model: 'macstudio' },
      endpoints: [
        { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: { min: 2222, max: 2222 } },
      ],
    });
    expect(scripted.status).toBe(200);
    conforms(VM, scripted.body);
    const vms = await orchard('GET', '/v1/vms');
    expect(vms.status).toBe(200);
    conforms(list(VM), vms.body);
    const filtered = await orchard('GET', '/v1/vms?filter=worker=mac-1');
    expect(filtered.status).toBe(200);
    conforms(list(VM), filtered.body);
    const got = await orchard('GET', '/v1/vms/build-1');
    expect(got.status).toBe(200);
    conforms(VM, got.body);
    expect(vms.body.find((v: { name: string }) => v.name === 'build-1')).toEqual(got.body);

    // Spec update: the client sends the whole VM back with the change.
    const updated = await orchard('PUT', '/v1/vms/build-1', { ...got.body, netSoftnetAllow: ['10.0.0.0/16'] });
    expect(updated.status).toBe(200);
    conforms(VM, updated.body);
    expect(updated.body).toMatchObject({ netSoftnet: true, 'net-softnet': true, generation: 1 });

    // State report (an Orchard worker's `PUT /v1/vms/{name}/state`: the whole VM with its status).
    const state = await orchard('PUT', '/v1/vms/build-1/state', {
      ...updated.body,
      status: 'running',
      status_message: 'VM started',
      image_fqn: 'ghcr.io/cirruslabs/macos-tahoe-base@sha256:0000',
    });
    expect(state.status).toBe(200);
    conforms(VM, state.body);
    // An Orchard worker reports the listeners of VM endpoints with the whole VM (orchard-2026.md §1.2.2).
    const observed = [{ name: 'ssh', protocol: 'tcp', workerPort: 2222, state: 'listening' }];
    const listening = await orchard('PUT', '/v1/vms/build-2/state', { ...scripted.body, observedEndpoints: observed });
    expect(listening.status).toBe(200);
    conforms(VM, listening.body);
    expect(listening.body.observedEndpoints).toEqual(observed);

    // Host processes (orchard-2026.md §1.2.3): created and changed with the whole VM, as the client sends them; the
    // worker reports them ready with the whole VM too.
    const sidecar = {
      name: 'echo',
      program: '/usr/local/bin/echo-server',
      args: ['--listen', '${ORCHARD_PROCESS_SOCKET}'],
      env: { LOG_LEVEL: 'debug' },
    };
    const withProcesses = await orchard('POST', '/v1/vms', { ...vmBody, name: 'build-3', hostProcesses: [sidecar] });
    expect(withProcesses.status).toBe(200);
    conforms(VM, withProcesses.body);
    expect(withProcesses.body.hostProcesses).toEqual([sidecar]);
    const moreProcesses = await orchard('PUT', '/v1/vms/build-3', {
      ...withProcesses.body,
      hostProcesses: [sidecar, { name: 'proxy', program: 'socat' }],
    });
    expect(moreProcesses.status).toBe(200);
    conforms(VM, moreProcesses.body);
    expect(moreProcesses.body).toMatchObject({
      generation: 1,
      hostProcesses: [sidecar, { name: 'proxy', program: 'socat' }],
    });
    const processesReady = await orchard('PUT', '/v1/vms/build-3/state', {
      ...moreProcesses.body,
      conditions: [...moreProcesses.body.conditions, { type: 'host-processes-ready', state: 'true' }],
    });
    expect(processesReady.status).toBe(200);
    conforms(VM, processesReady.body);
    expect(processesReady.body.conditions).toContainEqual({ type: 'host-processes-ready', state: 'true' });

    // Events: upload, then pages.
    const events = await orchard('POST', '/v1/vms/build-1/events', [
      { kind: 'log_line', timestamp: 1_700_000_000, payload: 'one' },
      { kind: 'log_line', timestamp: 1_700_000_001, payload: 'two' },
      { kind: 'log_line', timestamp: 1_700_000_002, payload: 'three' },
    ]);
    expect(events.status).toBe(200);
    const page = await orchard('GET', '/v1/vms/build-1/events?limit=2&order=asc');
    expect(page.status).toBe(200);
    conforms(list(EVENT), page.body);
    expect(page.body.map((e: { payload: string }) => e.payload)).toEqual(['one', 'two']);
    const cursor = String(page.headers['x-next-cursor']);
    const rest = await orchard('GET', `/v1/vms/build-1/events?limit=2&order=asc&cursor=${cursor}`);
    conforms(list(EVENT), rest.body);
    expect(rest.body.map((e: { payload: string }) => e.payload)).toEqual(['three']);
    expect(rest.headers['x-next-cursor']).toBeUndefined();

    // Watch: the first NDJSON line is ADDED with the VM.
    const first = await firstWatchLine(port, '/v1/vms/build-1?watch=true');
    covered.add('GET /v1/vms/build-1 (watch)');
    expect(WATCH_TYPES).toContain(first.type);
    expect(first.type).toBe('ADDED');
    conforms(VM, first.object);

    // IP of a VM no worker runs: an error in Orchard's shape.
    const ip = await orchard('GET', '/v1/vms/build-2/ip?wait=1');
    expect([408, 503]).toContain(ip.status);
    conforms(ERROR, ip.body);

    // Deletes.
    expect((await orchard('DELETE', '/v1/vms/build-1')).status).toBe(200);
    expect((await orchard('GET', '/v1/vms/build-1')).status).toBe(404);
    expect((await orchard('DELETE', '/v1/workers/mac-1')).status).toBe(200);
    expect((await orchard('DELETE', '/v1/service-accounts/ci')).status).toBe(200);

    expect(covered.size).toBeGreaterThanOrEqual(21);
  });

  it('departs from Orchard’s status codes only as documented, always with {message}', async () => {
    const [, orchardInvalid, groveInvalid] = DEVIATIONS.statuses[0];
    expect(orchardInvalid).toBe(412);
    const noToken = await orchard('PUT', '/v1/service-accounts/bootstrap-admin', {
      name: 'bootstrap-admin',
      roles: ['admin:read'],
    });
    expect(noToken.status).toBe(groveInvalid);
    conforms(ERROR, noToken.body);
    const badVm = await orchard('POST', '/v1/vms', { name: 'vm%', image: '' });
    expect(badVm.status).toBe(groveInvalid);
    conforms(ERROR, badVm.body);

    const [, , groveMissing] = DEVIATIONS.statuses[1];
    expect((await orchard('DELETE', '/v1/workers/absent')).status).toBe(groveMissing);
    expect((await orchard('DELETE', '/v1/service-accounts/absent')).status).toBe(groveMissing);

    const [, , groveRoles] = DEVIATIONS.statuses[2];
    const reader = await ctl.createAccount('reader', ['compute:read']);
    const denied = await orchard('POST', '/v1/vms', { name: 'x', image: 'i' }, reader);
    expect(denied.status).toBe(groveRoles);
    expect(denied.body).toEqual({ message: 'all of the following roles must be present: compute:write' });
    const noProcessRole = await orchard(
      'POST',
      '/v1/vms',
      { name: 'x', image: 'i', hostProcesses: [{ name: 'echo', program: 'echo-server' }] },
      await ctl.createAccount('compute-writer', ['compute:write']),
    );
    expect(noProcessRole.status).toBe(groveRoles);
    expect(noProcessRole.body).toEqual({
      message: 'all of the following roles must be present: compute:write, host-process:write',
    });
  });
});

/** Reads a watch stream up to its first line, then hangs up. */
function firstWatchLine(port: number, path: string): Promise<{ type: string; object: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { authorization: ADMIN, 'user-agent': ORCHARD_VERSION, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          const end = text.indexOf('\n');
          if (end >= 0) {
            resolve(JSON.parse(text.slice(0, end)) as { type: string; object: unknown });
            req.destroy();
          }
        });
        res.on('error', () => undefined);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
