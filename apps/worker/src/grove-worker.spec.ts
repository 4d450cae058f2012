import { waitFor } from '@grove/testing';
import { GroveWorker } from './grove-worker';
import { FakeRuntime } from './test-support/fake-runtime';
import { StandInController } from './test-support/stand-in-controller';

describe('GroveWorker registration', () => {
  let controller: StandInController;
  beforeEach(async () => {
    controller = new StandInController();
    await controller.start();
  });
  afterEach(() => controller.stop());

  /** The capabilities the worker registers with, given whether it runs host processes. */
  async function registeredCapabilities(hostProcesses: boolean | undefined): Promise<string[]> {
    const worker = new GroveWorker({
      session: {
        controllerUrl: controller.url,
        serviceAccountName: 'worker',
        serviceAccountToken: 'secret',
        heartbeatIntervalMs: 60_000,
        identity: {
          name: 'mac-1',
          machineId: 'machine-1',
          labels: {},
          resources: {},
          defaultCpu: 4,
          defaultMemory: 8192,
          runtime: 'tart',
          arch: 'arm64',
        },
      },
      runtime: new FakeRuntime(),
      log: () => undefined,
      syncIntervalMs: 0,
      ...(hostProcesses === undefined ? {} : { hostProcesses }),
    });
    const running = worker.run();
    try {
      const registration = await waitFor('the registration', () =>
        controller.requests.find((r) => r.method === 'POST' && r.url === '/v1/workers'),
      );
      return (JSON.parse(registration.body) as { capabilities: string[] }).capabilities;
    } finally {
      await worker.stop();
      await running;
    }
  }

  it('registers capability host-processes by default', async () => {
    expect(await registeredCapabilities(undefined)).toEqual([
      'vm-exposed-ports',
      'vm-endpoints',
      'tunnel-guest-agent',
      'host-processes',
    ]);
  });

  it('leaves host-processes out when started with --no-host-processes', async () => {
    expect(await registeredCapabilities(false)).toEqual(['vm-exposed-ports', 'vm-endpoints', 'tunnel-guest-agent']);
  });
});
