import { Duplex, PassThrough } from 'node:stream';
import {
  linkOpenHeader,
  readLinkOpenHeader,
  readTunnelStatus,
  readUpgradeAnswer,
  TUNNEL_OPENED,
  tunnelRefusal,
  TunnelStatusReader,
} from './raw-tunnel';

/** A duplex whose readable side the test feeds chunk by chunk (writes are dropped). */
function fedStream(): { stream: Duplex; feed: (chunk: string | Buffer) => void; end: () => void } {
  const incoming = new PassThrough();
  const stream = Duplex.from({ readable: incoming, writable: new PassThrough() });
  // A refused answer destroys the stream with its error, as it does a socket (whose owner listens for errors).
  stream.on('error', () => undefined);
  return { stream, feed: (chunk) => incoming.write(chunk), end: () => incoming.end() };
}

const SWITCHED = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: grove-tunnel/1\r\n\r\n';

describe('status records', () => {
  it('reads an opened record and a refusal, whole or a byte at a time, keeping what follows', () => {
    const refusal = tunnelRefusal('connect ECONNREFUSED 10.0.0.5:22 — ünïcode');
    const bytes = Buffer.concat([refusal, Buffer.from('after')]);
    const reader = new TunnelStatusReader();
    let read;
    for (let i = 0; i < bytes.length && !read; i++) {
      read = reader.push(bytes.subarray(i, i + 1));
    }
    expect(read?.status).toEqual({ opened: false, message: 'connect ECONNREFUSED 10.0.0.5:22 — ünïcode' });
    expect(new TunnelStatusReader().push(Buffer.concat([TUNNEL_OPENED, Buffer.from('data')]))).toEqual({
      status: { opened: true },
      rest: Buffer.from('data'),
    });
  });

  it('cuts a refusal text over 4 KiB and refuses a stream that does not start with a record', () => {
    const long = tunnelRefusal('x'.repeat(10_000));
    expect(long.length).toBeLessThanOrEqual(3 + 4096);
    expect(new TunnelStatusReader().push(long)?.status).toMatchObject({ opened: false });
    expect(() => new TunnelStatusReader().push(Buffer.from('HTTP'))).toThrow('not a status record');
  });
});

describe('readUpgradeAnswer', () => {
  it('reads the 101 and the status record split across chunks, leaving the tunnel bytes for the next reader', async () => {
    const { stream, feed } = fedStream();
    const answer = readUpgradeAnswer(stream, 'grove-tunnel/1', true);
    // A reader that starts early (a pipe, a data listener) must get the tunnel's bytes only, in order.
    const received: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => received.push(chunk));
    for (const part of [SWITCHED.slice(0, 20), SWITCHED.slice(20)]) {
      feed(part);
      await new Promise((resolve) => setImmediate(resolve));
    }
    feed(Buffer.concat([TUNNEL_OPENED, Buffer.from('first bytes')]));
    await expect(answer).resolves.toMatchObject({ status: 101, tunnel: { opened: true } });
    feed(' and more');
    await new Promise((resolve) => setImmediate(resolve));
    expect(Buffer.concat(received).toString()).toBe('first bytes and more');
  });

  it('returns a refusal status and an error answer with its body', async () => {
    const refused = fedStream();
    const pending = readUpgradeAnswer(refused.stream, 'grove-tunnel/1', true);
    refused.feed(SWITCHED + tunnelRefusal('port 5900: connect ECONNREFUSED').toString('latin1'));
    // The record's bytes above are ASCII, so latin1 carries them unchanged.
    await expect(pending).resolves.toMatchObject({
      tunnel: { opened: false, message: 'port 5900: connect ECONNREFUSED' },
    });

    const failed = fedStream();
    const answer = readUpgradeAnswer(failed.stream, 'grove-tunnel/1', true);
    const body = '{"message":"VM \\"x\\" not found"}';
    failed.feed(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    failed.feed(body);
    await expect(answer).resolves.toMatchObject({ status: 404, body });
  });

  it('rejects an answer that is not HTTP, a switch to another protocol and a connection that ends early', async () => {
    const notHttp = fedStream();
    const a = readUpgradeAnswer(notHttp.stream, 'grove-tunnel/1');
    notHttp.feed('SSH-2.0-OpenSSH_9.2\r\n\r\n');
    await expect(a).rejects.toThrow('did not answer with HTTP');

    const other = fedStream();
    const b = readUpgradeAnswer(other.stream, 'grove-tunnel/1');
    other.feed(SWITCHED.replace('grove-tunnel/1', 'websocket'));
    await expect(b).rejects.toThrow('switched to "websocket"');

    const early = fedStream();
    const c = readUpgradeAnswer(early.stream, 'grove-tunnel/1');
    early.feed('HTTP/1.1 101');
    early.end();
    await expect(c).rejects.toThrow('closed before the answer was complete');
  });
});

describe('link open headers', () => {
  it('round-trips a frame and leaves the session bytes after it', async () => {
    const { stream, feed } = fedStream();
    const frame = Buffer.from([8, 1, 18, 3, 97, 98, 99]);
    const header = linkOpenHeader(frame);
    const read = readLinkOpenHeader(stream);
    feed(header.subarray(0, 3));
    await new Promise((resolve) => setImmediate(resolve));
    feed(Buffer.concat([header.subarray(3), Buffer.from('GET / HTTP/1.1')]));
    await expect(read).resolves.toEqual(frame);
    await expect(readTunnelStatus(stream).catch((err: Error) => err.message)).resolves.toMatch('not a status record');
  });

  it('refuses a header that announces more than 64 KiB', async () => {
    const { stream, feed } = fedStream();
    const read = readLinkOpenHeader(stream);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(1024 * 1024);
    feed(length);
    await expect(read).rejects.toThrow('announces 1048576 bytes');
  });
});
