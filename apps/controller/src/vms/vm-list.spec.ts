import { acceptsGzip, chunksAfter, decodeVmListCursor, encodeVmListCursor } from './vm-list';
import type { VmListChunk, VmListRange } from './vm.repository';

describe('VM list', () => {
  it('reads gzip out of Accept-Encoding as HTTP weighs it', () => {
    expect(acceptsGzip(undefined)).toBe(false);
    expect(acceptsGzip('')).toBe(false);
    expect(acceptsGzip('gzip')).toBe(true);
    expect(acceptsGzip('deflate, GZIP;q=0.5, br')).toBe(true);
    expect(acceptsGzip('x-gzip')).toBe(true);
    expect(acceptsGzip('gzip;q=0')).toBe(false);
    expect(acceptsGzip('gzip; q=0.000')).toBe(false);
    expect(acceptsGzip('br, deflate')).toBe(false);
    expect(acceptsGzip('*')).toBe(true);
    expect(acceptsGzip('*, gzip;q=0')).toBe(false);
    expect(acceptsGzip('*;q=0')).toBe(false);
  });

  it('turns a VM name into an opaque cursor and back, refusing anything else', () => {
    for (const name of ['vm-1', 'ünïcode', 'a,b=c', 'x'.repeat(300)]) {
      const cursor = encodeVmListCursor(name);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeVmListCursor(cursor)).toBe(name);
      expect(decodeVmListCursor(`${cursor}==`)).toBe(name);
    }
    for (const bad of ['', 'garbage', encodeVmListCursor('vm').slice(1), Buffer.from('n:').toString('base64url')]) {
      expect(decodeVmListCursor(bad)).toBeUndefined();
    }
    expect(decodeVmListCursor(Buffer.from('n:a\u0000b').toString('base64url'))).toBeUndefined();
  });

  it('reads chunk after chunk from the last name until one comes back short', async () => {
    const reads: Array<{ range: VmListRange; rows: number }> = [];
    const chunks: VmListChunk[] = [
      { json: Buffer.from('{"name":"d"}'), last: 'd', count: 1000 },
      { json: Buffer.from('{"name":"e"}'), last: 'e', count: 7 },
    ];
    const read = (range: VmListRange, rows: number) => {
      reads.push({ range, rows });
      return Promise.resolve(chunks.shift());
    };
    const out: string[] = [];
    const first = { json: Buffer.from('{"name":"a"}'), last: 'c', count: 100 };
    for await (const json of chunksAfter(read, { worker: 'w' }, first, 100)) {
      out.push(json.toString('utf8'));
    }
    expect(out).toEqual(['{"name":"a"}', '{"name":"d"}', '{"name":"e"}']);
    expect(reads).toEqual([
      { range: { worker: 'w', after: 'c' }, rows: 1000 },
      { range: { worker: 'w', after: 'd' }, rows: 1000 },
    ]);
  });
});
