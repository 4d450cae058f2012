import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  credentials as grpcCredentials,
  Metadata,
  Server,
  ServerCredentials,
  type Client,
  type ServerDuplexStream,
} from '@grpc/grpc-js';
import { workerServiceClient, workerServiceDefinition, type TunnelFrame } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { SyntheticRuntime } from '../runtime/synthetic/synthetic-runtime';
import { TunnelServer } from '../session/tunnel-server';
import { TunnelPool, type TunnelClientCall, type TunnelOpenFrame } from '../session/tunnel-pool';
import { bootSyntheticVm } from '../test-support/run-options';
import { ExecServer } from './exec-server';

type ControllerSide = ServerDuplexStream<TunnelFrame | undefined, TunnelFrame>;

/**
 * Exec sessions over real grpc-js Tunnel streams with the tunnel codec: a stand-in controller takes the idle tunnels
 * of a worker-side TunnelPool, and the pool's first frames are dispatched as GroveWorker does.
 */
describe('exec sessions over Tunnel streams', () => {
  const signal = new AbortController().signal;
  let dataDir: string;
  let runtime: SyntheticRuntime;
  let grpcServer: Server;
  let client: Client & { Tunnel(metadata: Metadata): TunnelClientCall };
  let pool: TunnelPool;
  let execs: ExecServer;
  const idle: ControllerSide[] = [];
  const vmName = 'grove-grpc-0b5e0d1c-2f4e-4c1a-9d6e-7a8b9c0d1e2f-0';
  const vmUid = '0b5e0d1c-2f4e-4c1a-9d6e-7a8b9c0d1e2f';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'grove-exec-grpc-'));
    runtime = new SyntheticRuntime({ dataDir });
    await runtime.start();
    await bootSyntheticVm(runtime, 'plain', vmName, signal);

    grpcServer = new Server();
    grpcServer.addService(workerServiceDefinition(), {
      Session: () => undefined,
      Tunnel: (call: ControllerSide) => idle.push(call),
    });
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
    const Ctor = workerServiceClient();
    client = new Ctor(`127.0.0.1:${port}`, grpcCredentials.createInsecure()) as unknown as typeof client;
    const log = () => undefined;
    execs = new ExecServer({
      guestAgent: (uid) => {
        if (uid !== vmUid) {
          throw new Error(`VM with uid ${uid} is not running on this worker`);
        }
        return runtime.guestAgent(vmName);
      },
      connectVm: (_uid, port, abort) => runtime.connect(vmName, port, abort),
      log,
    });
    const tunnels = new TunnelServer({
      connectVm: (_uid, port, abort) => runtime.connect(vmName, port, abort),
      guestAgent: () => runtime.guestAgent(vmName),
      minRttMs: () => undefined,
      log,
    });
    pool = new TunnelPool({
      open: () => client.Tunnel(new Metadata()),
      idleTarget: 2,
      onOpen: (first: TunnelOpenFrame, call: TunnelClientCall) =>
        void (first.kind === 'open' ? tunnels.serve(first, call) : execs.serve(first, call)),
      log,
    });
  });

  afterAll(async () => {
    pool.stop();
    execs.closeAll('done');
    client.close();
    grpcServer.forceShutdown();
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Takes an idle tunnel and starts a command on it, as the controller's ExecLauncher does. */
  async function exec(argv: string[], interactive = false) {
    const call = await waitFor('an idle tunnel', () => idle.shift());
    const frames: TunnelFrame[] = [];
    const ended = new Promise<void>((resolve) => {
      call.on('data', (frame: TunnelFrame | undefined) => frame && frames.push(frame));
      call.on('end', () => resolve());
      call.on('error', () => resolve());
    });
    call.write({
      kind: 'execStart',
      session: 'grpc',
      vmUid,
      argv,
      interactive,
      tty: false,
      rows: 0,
      cols: 0,
      env: {},
      workdir: '',
      username: 'admin',
      password: 'admin',
    });
    return { call, frames, ended };
  }

  it('runs a command and streams its output and exit status', async () => {
    const { call, frames, ended } = await exec(['sh', '-c', 'cat; echo err >&2; exit 3'], true);
    await waitFor('the start', () => frames.find((f) => f.kind === 'execStarted'));
    call.write({ kind: 'stdin', data: Buffer.from('hello') });
    call.write({ kind: 'stdin', data: Buffer.alloc(0) });
    await waitFor('the exit', () => frames.find((f) => f.kind === 'exit'));
    call.end();
    await ended;
    expect(frames).toEqual([
      { kind: 'execStarted', via: 'agent' },
      { kind: 'stdout', data: Buffer.from('hello') },
      { kind: 'stderr', data: Buffer.from('err\n') },
      { kind: 'exit', code: 3 },
    ]);
  });

  it('kills the command when the controller ends the session', async () => {
    const { call, frames } = await exec(['sh', '-c', 'echo $$; exec sleep 60']);
    const pid = await waitFor('the pid', () => {
      const out = frames.find((f) => f.kind === 'stdout');
      return out?.kind === 'stdout' ? Number(out.data.toString().trim()) : undefined;
    });
    // RemoteExec.kill(): an error frame, then the controller ends the call (it does not wait for the worker's half).
    call.write({ kind: 'error', message: 'cancelled' });
    call.end();
    await waitFor('the command to be gone', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    expect(frames.map((f) => f.kind)).toEqual(['execStarted', 'stdout']);
    await waitFor('no session left', () => execs.activeSessions === 0);
  });
});
