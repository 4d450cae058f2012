import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import { opensslCertificate, readAll, type RunningProcess } from '@grove/testing';
import { BOOTSTRAP_ADMIN, startController, type ControllerProcess } from './test-support/controller-process';
import { startSyntheticWorker } from './test-support/synthetic-worker';

/**
 * Raw port-forwards (docs/tunnels.md "Raw byte streams") with a controller serving HTTPS, as deployed: the client's
 * session and the worker's links are TLS connections, whose half-close must travel as over plain TCP (an HTTPS server's
 * sockets are not half-open by default; the tunnel benchmark's --tls echo check found it).
 */
describe('raw tunnels over TLS', () => {
  let controller: ControllerProcess;
  let client: GroveClient;
  let home: string;
  let worker: RunningProcess;
  let echo: Server;
  let echoPort: number;
  const workerName = 'e2e-raw-tls';

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-raw-tls-'));
    controller = await startController({ tls: true });
    const certificatePem = readFileSync(join(controller.dataDir, 'controller.crt'), 'utf8');
    client = new GroveClient({
      url: controller.url,
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: controller.adminToken,
      certificatePem,
    });
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      certificatePem,
      name: workerName,
      dataDir: join(home, 'worker'),
    });
    // An echo service on the worker host that answers everything it read, also after its input ended.
    echo = createServer({ allowHalfOpen: true }, (socket) => {
      socket.pipe(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as AddressInfo).port;
  });

  afterAll(async () => {
    client?.close();
    await worker?.stop();
    await controller?.stop();
    await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
    rmSync(home, { recursive: true, force: true });
  });

  it('echoes a session whose client ended its side at once, byte for byte (the half-close crosses TLS)', async () => {
    client.keepConnectionReady();
    for (const size of [1, 64 * 1024, 4 * 1024 * 1024]) {
      const socket = await client.workers.portForwardStream(workerName, { port: echoPort });
      const data = randomBytes(size);
      const answer = readAll(socket);
      // The end leaves right behind the data: the echo of all of it still has to come back.
      socket.end(data);
      expect((await answer).equals(data)).toBe(true);
    }
  });

  it('resumes the TLS session on later connections, and a client pinning another certificate is still refused', async () => {
    const reused: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const socket = (await client.workers.portForwardStream(workerName, { port: echoPort })) as TLSSocket;
      reused.push(socket.isSessionReused());
      socket.destroy();
    }
    // The first may have been opened before any ticket came; the later ones skip the certificate.
    expect(reused.slice(1)).toEqual([true, true]);
    const other = new GroveClient({
      url: controller.url,
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: controller.adminToken,
      certificatePem: opensslCertificate(home, 'grove-controller', { subjectAltName: 'DNS:grove-controller' }).certPem,
    });
    try {
      await expect(other.workers.portForwardStream(workerName, { port: echoPort })).rejects.toThrow(/certificate/i);
    } finally {
      other.close();
    }
  });
});
