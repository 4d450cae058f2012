import { createServer, type Server, type Socket } from 'node:net';
import type { TunnelFrame } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { StandInController } from '../test-support/stand-in-controller';
import type { TunnelClientCall } from './tunnel-pool';
import { WorkerSession } from './worker-session';

/** The delays the session logged ("… in 0.42 s"), in ms. */
function loggedDelays(logs: string[], pattern: RegExp): number[] {
  return logs.flatMap((line) => {
    const match = pattern.exec(line);
    return match ? [Number(match[1]) * 1000] : [];
  });
}

/** The worker session against an in-process controller: how it reconnects (issue 11, "fast reconnect"). */
describe('WorkerSession reconnects', () => {
  let controller: StandInController;
  let session: WorkerSession;
  let running: Promise<void>;
  const logs: string[] = [];
  let connected = 0;

  beforeEach(async () => {
    logs.length = 0;
    connected = 0;
    controller = new StandInController();
    await controller.start();
    session = new WorkerSession({
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
      log: (line) => logs.push(line),
    });
    session.on('connected', () => connected++);
    running = session.run();
    await waitFor('the first session', () => connected === 1);
  });

  afterEach(async () => {
    session.stop();
    await running;
    await controller.stop();
  });

  it('opens a new session at once on GoingAway, while a tunnel in use on the old connection keeps working', async () => {
    // The controller starts using the idle tunnel for a port-forward session; the worker echoes its data.
    session.on('tunnel', (_open: TunnelFrame, call: TunnelClientCall) => {
      call.on('data', (frame: TunnelFrame | undefined) => {
        if (frame?.kind === 'data') {
          call.write({ kind: 'data', data: frame.data });
        }
      });
      call.on('error', () => undefined);
      call.resume();
    });
    const tunnel = await waitFor('an idle tunnel', () => controller.idleTunnels.shift());
    const received: Buffer[] = [];
    tunnel.on('data', (frame: TunnelFrame | undefined) => frame?.kind === 'data' && received.push(frame.data));
    tunnel.write({ kind: 'open', session: 's-1', vmUid: 'vm-1', port: 22 });
    tunnel.write({ kind: 'data', data: Buffer.from('before') });
    await waitFor('the echo', () => Buffer.concat(received).toString() === 'before');

    controller.sessions[0].write({ going_away: { reason: 'the controller is shutting down' } });

    await waitFor('the second session', () => connected === 2, 3_000);
    expect(controller.sessions).toHaveLength(2);
    expect(logs).toContainEqual(
      expect.stringMatching(/^the controller is going away \(the controller is shutting down\): opening a new session/),
    );
    const [delay] = loggedDelays(logs, /opening a new session in ([\d.]+) s/);
    expect(delay).toBeLessThanOrEqual(250);
    // The tunnel rides the old connection, which stays until its last call ends.
    tunnel.write({ kind: 'data', data: Buffer.from(' and after') });
    await waitFor('the echo after GoingAway', () => Buffer.concat(received).toString() === 'before and after');
    tunnel.end();
  });

  it('retries every 0.5–1.5 s while nothing answers, logs that once, and is back soon after the controller', async () => {
    await controller.stop();
    // Nothing listens but a socket that resets every connection: each attempt counts, and costs nothing.
    const attempts: number[] = [];
    const resetter: Server = createServer((socket: Socket) => {
      attempts.push(Date.now());
      socket.resetAndDestroy();
    });
    await new Promise<void>((resolve) => resetter.listen(Number(new URL(controller.url).port), '127.0.0.1', resolve));
    try {
      await waitFor('three attempts', () => attempts.length >= 3, 6_000);
    } finally {
      await new Promise<void>((resolve) => resetter.close(() => resolve()));
    }
    const gaps = attempts.slice(1, 3).map((at, i) => at - attempts[i]);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(450);
      expect(gap).toBeLessThan(2_000);
    }
    expect(logs.filter((line) => line.startsWith('cannot open a session'))).toHaveLength(1);

    await controller.start();
    const up = Date.now();
    await waitFor('the new session', () => connected === 2, 5_000);
    // At most one retry period (1.5 s) after the controller answers, plus the time to register and connect.
    expect(Date.now() - up).toBeLessThan(2_000);
  });

  it('waits as long as Retry-After asks when the controller answers 503', async () => {
    let unavailable = 1;
    controller.override = (req) =>
      req.method === 'POST' && unavailable-- > 0
        ? { status: 503, body: { message: 'the database is unavailable' }, headers: { 'retry-after': '1' } }
        : undefined;
    controller.sessions[0].end();

    await waitFor('the new session', () => connected === 2, 5_000);
    const registrations = controller.requests.filter((r) => r.method === 'POST').map((r) => r.at);
    expect(registrations).toHaveLength(3);
    const retryGap = registrations[2] - registrations[1];
    expect(retryGap).toBeGreaterThanOrEqual(1_000);
    expect(retryGap).toBeLessThan(2_000);
    expect(logs).toContainEqual(expect.stringMatching(/^cannot open a session: the database is unavailable; /));
  });

  it('backs off exponentially while the controller answers with errors', async () => {
    let failing = 2;
    controller.override = (req) =>
      req.method === 'POST' && failing-- > 0 ? { status: 500, body: { message: 'boom' } } : undefined;
    controller.sessions[0].end();

    await waitFor('the new session', () => connected === 2, 6_000);
    const registrations = controller.requests.filter((r) => r.method === 'POST').map((r) => r.at);
    expect(registrations).toHaveLength(4);
    // A session that ended within seconds counts as a failure too: 0.25–0.5 s, then 0.5–1 s, then 1–2 s (the gaps
    // below also hold the failed request itself).
    const gaps = registrations.slice(2).map((at, i) => at - registrations[i + 1]);
    expect(gaps[0]).toBeGreaterThanOrEqual(500);
    expect(gaps[0]).toBeLessThan(1_300);
    expect(gaps[1]).toBeGreaterThanOrEqual(1_000);
    expect(gaps[1]).toBeLessThan(2_300);
    // The same failure twice in a row is logged once.
    expect(logs.filter((line) => line.startsWith('cannot open a session: boom'))).toHaveLength(1);
  });
});
