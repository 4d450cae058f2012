import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32, gunzipSync } from 'node:zlib';
import { crc32Combine, gzipPieces } from './vm-list-gzip';

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) {
    parts.push(part as Buffer);
  }
  return Buffer.concat(parts);
}

const of = (...pieces: Buffer[]): AsyncIterable<Buffer> => Readable.from(pieces);

describe('VM list gzip', () => {
  it('combines CRC-32s as the CRC-32 of the bytes one after the other', () => {
    for (const [a, b] of [
      [0, 0],
      [0, 5],
      [7, 1],
      [1000, 65_537],
      [3, 1_100_000],
    ]) {
      const first = randomBytes(a);
      const second = randomBytes(b);
      expect(crc32Combine(crc32(first), crc32(second), second.length)).toBe(crc32(Buffer.concat([first, second])));
    }
  });

  it('compresses pieces one by one into one gzip stream, the same piece twice too', async () => {
    const chunk = Buffer.from(JSON.stringify({ name: 'vm', text: 'ü'.repeat(5000) }).repeat(50));
    const pieces = [Buffer.from('['), chunk, Buffer.from(','), chunk, Buffer.from(']')];
    const body = await collect(gzipPieces(of(...pieces)));
    expect(gunzipSync(body).equals(Buffer.concat(pieces))).toBe(true);
    expect(body.length).toBeLessThan(chunk.length / 10);
    expect(gunzipSync(await collect(gzipPieces(of()))).length).toBe(0);
  });
});
