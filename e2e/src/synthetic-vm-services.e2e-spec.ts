import type { Duplex } from 'node:stream';
import { webSocketStream, type GroveClient } from '@grove/client';
import { waitFor } from '@grove/testing';
import { startConsoleCluster, type ConsoleCluster } from './test-support/console-cluster';
import { untilRunning } from './test-support/running-vm';

/** Everything a stream has sent so far, and whether it ended. */
function collect(stream: Duplex): { bytes(): Buffer; ended(): boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.once('end', () => (ended = true));
  stream.once('close', () => (ended = true));
  stream.on('error', () => undefined);
  return { bytes: () => Buffer.concat(chunks), ended: () => ended };
}

// The synthetic VMs' screen and web page (issue 16), reached the way the web console reaches them: through the
// controller's port-forward WebSocket and the worker's tunnel.
describe('synthetic VM VNC (port 5900) and HTTP (port 80) through port-forwarding', () => {
  let cluster: ConsoleCluster;
  let client: GroveClient;

  beforeAll(async () => {
    cluster = await startConsoleCluster('services');
    client = cluster.client;
    await client.vms.create({ name: 'screen', image: 'any', os: 'linux' });
    await untilRunning(client, 'screen');
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('greets with RFB 003.008 on port 5900 and sends the 1024x768 screen named after the VM', async () => {
    const stream = webSocketStream(await client.vms.portForward('screen', { port: 5900 }));
    const got = collect(stream);
    const received = (length: number) =>
      waitFor(`${length} bytes from the VNC server`, () => got.bytes().length >= length || got.ended(), 10_000);

    await received(12);
    expect(got.bytes().subarray(0, 12).toString()).toBe('RFB 003.008\n');
    stream.write('RFB 003.008\n');
    await received(14);
    expect([...got.bytes().subarray(12, 14)]).toEqual([1, 1]); // one security type: None
    stream.write(Buffer.from([1]));
    await received(18);
    expect(got.bytes().readUInt32BE(14)).toBe(0); // SecurityResult OK
    stream.write(Buffer.from([1])); // ClientInit, shared
    await received(18 + 24 + 'screen'.length);
    const init = got.bytes().subarray(18);
    expect([init.readUInt16BE(0), init.readUInt16BE(2)]).toEqual([1024, 768]);
    expect(init.subarray(24, 24 + init.readUInt32BE(20)).toString()).toBe('screen');

    // A full update request: the whole screen in Raw encoding, 4 bytes a pixel.
    const request = Buffer.from([3, 0, 0, 0, 0, 0, 0x04, 0x00, 0x03, 0x00]);
    stream.write(request);
    const start = 18 + 24 + 'screen'.length;
    await received(start + 16 + 1024 * 768 * 4);
    const update = got.bytes().subarray(start);
    expect(update[0]).toBe(0); // FramebufferUpdate
    expect(update.readUInt16BE(2)).toBe(1);
    expect(update.readInt32BE(4 + 8)).toBe(0); // Raw
    stream.destroy();
  });

  it('serves a page naming the VM on port 80', async () => {
    const stream = webSocketStream(await client.vms.portForward('screen', { port: 80, halfClose: true }));
    const got = collect(stream);
    stream.end('GET / HTTP/1.0\r\nHost: screen\r\n\r\n');
    await waitFor('the HTTP answer', () => got.ended(), 10_000);
    const answer = got.bytes().toString();
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).toContain('<h1>synthetic VM screen</h1>');
    expect(answer).toContain('href="about.html"');
  });
});
