import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { loadTartAgentProtocol } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { Reconciler } from '../reconcile/reconciler';
import { SyntheticRuntime } from '../runtime/synthetic/synthetic-runtime';
import { FakeController, WORKER } from '../test-support/fake-controller';
import { echoProcess, readDescription } from '../test-support/host-process-helpers';

// A host process of a synthetic VM reaches that VM's guest agent through ORCHARD_VM_CONTROL_SOCKET
// (orchard-2026.md §1.2.3), as one of a Tart VM reaches `tart run`'s control socket.

describe('host processes of synthetic VMs', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'grove-hp-synthetic-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('find the VM’s guest agent behind the control socket alias', async () => {
    const runtime = new SyntheticRuntime({ dataDir });
    await runtime.start();
    const controller = new FakeController();
    const reconciler = new Reconciler({ workerName: WORKER, runtime, controller, log: () => undefined });
    try {
      const vm = controller.place({ name: 'web', hostProcesses: [echoProcess('agent-user')] });
      await waitFor('ready', async () => {
        await reconciler.requestSync();
        return controller.get('web').conditions.some((c) => c.type === 'host-processes-ready' && c.state === 'true');
      });
      const socket = await reconciler.connectHostProcess(vm.uid, 'agent-user', new AbortController().signal);
      const { env } = await readDescription(socket);
      socket.destroy();
      const agent = new (loadTartAgentProtocol().Agent)(
        `unix://${env.ORCHARD_VM_CONTROL_SOCKET}`,
        grpcCredentials.createInsecure(),
      );
      try {
        const ip = await new Promise<string | undefined>((resolve, reject) =>
          agent.ResolveIP({}, {}, (err, res) => (err ? reject(err) : resolve(res?.ip))),
        );
        expect(ip).toBe('127.0.0.1');
      } finally {
        agent.close();
      }
    } finally {
      await reconciler.close();
      await runtime.close();
    }
  });
});
