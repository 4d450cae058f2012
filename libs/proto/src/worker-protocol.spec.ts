import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { credentials, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import type { ControllerMessage } from './gen/grove/worker/v1/ControllerMessage';
import type { WorkerMessage__Output } from './gen/grove/worker/v1/WorkerMessage';
import { loadWorkerProtocol, WORKER_PROTOCOL_VERSION } from './worker-protocol';

const REPO = join(__dirname, '..', '..', '..');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('controller↔worker protocol', () => {
  it('has committed types identical to a fresh generation (run scripts/proto-gen.sh after editing the .proto)', () => {
    const out = mkdtempSync(join(tmpdir(), 'grove-proto-'));
    try {
      execFileSync('bash', [join(REPO, 'scripts', 'proto-gen.sh'), out], { cwd: REPO, stdio: 'pipe' });
      const committed = join(__dirname, 'gen');
      const fresh = files(out)
        .map((f) => relative(out, f))
        .sort();
      expect(
        files(committed)
          .map((f) => relative(committed, f))
          .sort(),
      ).toEqual(fresh);
      for (const file of fresh) {
        expect(`${file}:\n${readFileSync(join(committed, file), 'utf8')}`).toBe(
          `${file}:\n${readFileSync(join(out, file), 'utf8')}`,
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('carries a Hello/Welcome exchange and pings over a real grpc-js connection', async () => {
    const proto = loadWorkerProtocol();
    const server = new Server();
    server.addService(proto.grove.worker.v1.WorkerService.service, {
      Session: (call: ServerDuplexStream<WorkerMessage__Output, ControllerMessage>) => {
        call.on('data', (message: WorkerMessage__Output) => {
          if (message.kind === 'hello') {
            call.write({
              welcome: {
                protocol_version: message.hello!.protocol_version,
                capabilities: [],
                ping_interval_ms: 10_000,
              },
            });
          } else if (message.kind === 'ping') {
            call.write({ pong: { nonce: message.ping!.nonce } });
          }
        });
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const client = new proto.grove.worker.v1.WorkerService(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const session = client.Session();
      const received: ControllerMessage[] = [];
      const done = new Promise<void>((resolve, reject) => {
        session.on('data', (m: ControllerMessage) => received.push(m));
        session.on('end', () => resolve());
        session.on('error', reject);
      });
      session.write({
        hello: { worker_name: 'mac-1', protocol_version: WORKER_PROTOCOL_VERSION, capabilities: ['x'] },
      });
      session.write({ ping: { nonce: '18446744073709551615' } });
      session.end();
      await done;
      expect(received).toEqual([
        expect.objectContaining({ kind: 'welcome', welcome: expect.objectContaining({ protocol_version: 1 }) }),
        expect.objectContaining({ kind: 'pong', pong: { nonce: '18446744073709551615' } }),
      ]);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
