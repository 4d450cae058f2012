import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { ApiError, GroveClient, webSocketStream } from '@grove/client';
import { loadTartAgentProtocol, type TartAgentClient, type TartExecResponse } from '@grove/proto';
import { freePort, waitFor, type RunningProcess } from '@grove/testing';
import type { WebSocket } from 'ws';
import { createContext } from './test-support/cli-process';
import { adminClient, type ControllerProcess, startController } from './test-support/controller-process';
import { startGrove } from './test-support/grove-process';
import { untilRunning } from './test-support/running-vm';
import { startSyntheticWorker } from './test-support/synthetic-worker';

/** A local TCP port whose every connection is one WebSocket that `open` returns, as `grove port-forward` does. */
async function bridge(open: () => Promise<WebSocket>): Promise<{ port: number; server: Server }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    open().then(
      (ws) => {
        const remote = webSocketStream(ws);
        socket.pipe(remote).pipe(socket);
        remote.once('error', () => socket.destroy());
        socket.once('error', () => remote.destroy());
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

/** A gRPC client of the Tart guest agent protocol at a local port. */
function agentAt(port: number): TartAgentClient {
  const { Agent } = loadTartAgentProtocol();
  return new Agent(`127.0.0.1:${port}`, credentials.createInsecure());
}

function resolveIp(agent: TartAgentClient): Promise<string> {
  return new Promise((resolve, reject) =>
    agent.ResolveIP({}, { deadline: Date.now() + 15_000 }, (err, res) => (err ? reject(err) : resolve(res!.ip))),
  );
}

/** `/Agent/Exec` of a command without input: its stdout and exit code. */
function exec(agent: TartAgentClient, name: string, args: string[]): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve, reject) => {
    const call = agent.Exec();
    let stdout = '';
    let code: number | undefined;
    call.on('data', (res: TartExecResponse) => {
      if (res.type === 'standard_output') {
        stdout += res.standard_output.data.toString();
      } else if (res.type === 'exit') {
        code = res.exit.code;
      }
    });
    call.once('error', reject);
    call.once('end', () => (code === undefined ? reject(new Error('no exit')) : resolve({ stdout, code })));
    call.write({ command: { name, args } });
    call.end();
  });
}

/**
 * `GET /v1/vms/{name}/port-forward?target=tart-guest-agent` (orchard-2026.md §1.2.4) for real: a gRPC client of the
 * Tart agent protocol talks, through the API's WebSocket and through `grove port-forward --target`, to the agent of a
 * VM of a synthetic worker.
 */
describe('port-forward to the Tart guest agent through a synthetic worker', () => {
  let controller: ControllerProcess;
  let admin: GroveClient;
  let home: string;
  let worker: RunningProcess;
  const background: RunningProcess[] = [];
  const servers: Server[] = [];
  const agents: TartAgentClient[] = [];
  const vmName = 'agent-vm';
  const accounts = { agent: 'agent-only', reader: 'reader', connect: 'connect-only' };
  const token = 'e2e-agent-token-0123456789';

  const as = (name: string) =>
    new GroveClient({ url: controller.url, serviceAccountName: name, serviceAccountToken: token });

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-agent-'));
    controller = await startController();
    admin = adminClient(controller);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: 'e2e-agent-1',
      dataDir: join(home, 'e2e-agent-1'),
    });
    await admin.serviceAccounts.create({ name: accounts.agent, roles: ['compute:connect:tart-guest-agent'], token });
    await admin.serviceAccounts.create({ name: accounts.reader, roles: ['compute:read'], token });
    await admin.serviceAccounts.create({ name: accounts.connect, roles: ['compute:connect'], token });
    await admin.vms.create({ name: vmName, image: 'any', os: 'linux' });
    await untilRunning(admin, vmName);
  });

  afterAll(async () => {
    agents.forEach((agent) => agent.close());
    servers.forEach((server) => server.close());
    await Promise.all(background.map((proc) => proc.stop('SIGINT')));
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('carries gRPC to the agent through the API WebSocket for a compute:connect:tart-guest-agent account', async () => {
    const client = as(accounts.agent);
    const { port, server } = await bridge(() =>
      client.vms.portForward(vmName, { target: 'tart-guest-agent', waitSeconds: 10, halfClose: true }),
    );
    servers.push(server);
    const agent = agentAt(port);
    agents.push(agent);
    expect(await resolveIp(agent)).toBe('127.0.0.1');
    expect(await exec(agent, 'echo', ['hello', 'agent'])).toEqual({ stdout: 'hello agent\n', code: 0 });
  });

  it('carries gRPC to the agent through grove port-forward vm NAME PORT --target tart-guest-agent', async () => {
    const cliHome = join(home, 'cli');
    await createContext(cliHome, controller.url, accounts.agent, token);
    const port = await freePort();
    const forwarder = startGrove(['port-forward', 'vm', vmName, String(port), '--target', 'tart-guest-agent'], cliHome);
    background.push(forwarder);
    await waitFor(
      'the forwarder to listen',
      () => forwarder.output().includes(`Forwarding 127.0.0.1:${port} -> vm/${vmName}:tart-guest-agent`),
      15_000,
    );
    const agent = agentAt(port);
    agents.push(agent);
    expect(await exec(agent, 'echo', ['via', 'cli'])).toEqual({ stdout: 'via cli\n', code: 0 });
    expect(await forwarder.stop('SIGINT')).toBe(0);
  });

  it('refuses compute:read and compute:connect (403), and port with target (400)', async () => {
    for (const name of [accounts.reader, accounts.connect]) {
      const refused = await as(name)
        .vms.portForward(vmName, { target: 'tart-guest-agent', waitSeconds: 0 })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(refused).toBeInstanceOf(ApiError);
      expect(refused).toMatchObject({ status: 403 });
      // Either way the refusal names only the roles that reach the agent (compute:connect is not one of them).
      expect((refused as ApiError).message).toContain(
        'any of the following roles must be present: compute:write, compute:connect:tart-guest-agent',
      );
    }
    const both = await fetch(`${controller.url}/v1/vms/${vmName}/port-forward?port=22&target=tart-guest-agent`, {
      headers: { authorization: `Basic ${Buffer.from(`${accounts.agent}:${token}`).toString('base64')}` },
    });
    expect(both.status).toBe(400);
    expect(await both.json()).toMatchObject({ message: 'invalid input: target cannot be combined with port' });
    const other = await fetch(`${controller.url}/v1/vms/${vmName}/port-forward?target=ssh`, {
      headers: { authorization: `Basic ${Buffer.from(`${accounts.agent}:${token}`).toString('base64')}` },
    });
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ message: 'invalid input: target must be tart-guest-agent' });
  });
});
