import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@grove/testing';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { SyntheticRuntime } from '../runtime/synthetic/synthetic-runtime';
import { FakeTunnelCall } from '../test-support/fake-tunnel-call';
import { sampleValue } from '../test-support/metrics-text';
import { SyntheticVms } from '../test-support/synthetic-vms';
import type { ExecStartFrame } from './exec-process';
import { ExecServer } from './exec-server';

describe('ExecServer metrics', () => {
  const signal = new AbortController().signal;
  let vms: SyntheticVms;
  let dataDir: string;
  let runtime: SyntheticRuntime;
  let metrics: WorkerMetrics;
  let server: ExecServer;
  let serial = 0;

  const boot = (image: string) => vms.boot(image, signal);

  /** Serves one exec session like the controller starts it; `then` acts on it once it is under way. */
  async function exec(vmUid: string, argv: string[], then?: (call: FakeTunnelCall) => Promise<void>): Promise<void> {
    const call = new FakeTunnelCall();
    const start: ExecStartFrame = {
      kind: 'execStart',
      session: `s${++serial}`,
      vmUid,
      argv,
      interactive: false,
      tty: false,
      rows: 0,
      cols: 0,
      env: {},
      workdir: '',
      username: 'admin',
      password: 'admin',
    };
    const done = server.serve(start, call.asCall);
    await then?.(call);
    await done;
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'grove-exec-metrics-'));
    runtime = new SyntheticRuntime({ dataDir });
    await runtime.start();
    vms = new SyntheticVms(runtime, '6a1f0c2e-3b4d-4e5f-8a9b-');
    metrics = new WorkerMetrics();
    server = new ExecServer({
      guestAgent: vms.guestAgent,
      connectVm: vms.connectVm,
      log: () => undefined,
      agentReadyTimeoutMs: 500,
      sshSetupTimeoutMs: 2_000,
      onSessionEnd: metrics.execEnded,
    });
  });

  afterAll(async () => {
    server.closeAll('the test is over');
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const count = async (via: string, result: string) =>
    sampleValue((await metrics.text()).body, 'grove_worker_exec_total', { via, result });

  it('counts sessions by how the command ran and how the session ended', async () => {
    const agentVm = await boot('ghcr.io/cirruslabs/macos-sequoia-base:latest');
    const sshVm = await boot('acme/no-agent:latest');
    await exec(agentVm, ['true']);
    await exec(agentVm, ['sh', '-c', 'exit 3']);
    await exec(sshVm, ['true']);
    await exec(agentVm, ['sleep', '30'], async (call) => {
      await waitFor('the command to start', () => call.frames('execStarted').length > 0);
      call.send({ kind: 'error', message: 'the client went away' });
    });
    await exec('6a1f0c2e-3b4d-4e5f-8a9b-000000000999', ['true']);

    // A command that exits with a non-zero status still ran and exited: its status is the user's business.
    expect(await count('agent', 'exited')).toBe(2);
    expect(await count('ssh', 'exited')).toBe(1);
    expect(await count('agent', 'cancelled')).toBe(1);
    expect(await count('none', 'failed')).toBe(1);
  });
});
