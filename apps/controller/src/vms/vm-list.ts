import { Readable } from 'node:stream';
import { isStorableText } from '../common/storable-text';
import type { VmListChunk, VmListRange } from './vm.repository';
import { gzipPieces } from './vm-list-gzip';

/**
 * `GET /v1/vms` as it is sent (issue 13): the stored documents in name order, read from Postgres in chunks and written
 * as they come, so that the first byte leaves after one small read instead of after the whole fleet, and the controller
 * never holds the whole list (11 MB for 10,000 VMs) at once. Each chunk is one keyset read by name, so a list runs no
 * transaction and holds no pooled connection between chunks; a VM written while its list is being sent appears once,
 * as its chunk found it.
 */
export const FIRST_CHUNK_ROWS = 100;
export const CHUNK_ROWS = 1000;

/**
 * The chunks of a list: comma-joined documents, as UTF-8 bytes (`bytes()`, what `GET /v1/vms` sends) or, iterated, as
 * text (what the fleet watch parses). Either is read once.
 */
export interface VmListChunks extends AsyncIterable<string> {
  bytes(): AsyncIterable<Buffer>;
}

export function vmListChunks(bytes: AsyncIterable<Buffer>): VmListChunks {
  return {
    bytes: () => bytes,
    async *[Symbol.asyncIterator]() {
      for await (const chunk of bytes) {
        yield chunk.toString('utf8');
      }
    },
  };
}

export interface VmListPage {
  /** The chunks; the first is read before the answer starts. */
  chunks: VmListChunks;
  /** Cursor of the next page (`X-Next-Cursor`) when a `limit` left VMs out. */
  nextCursor?: string;
  /**
   * The whole answer came with the first read (fewer than FIRST_CHUNK_ROWS VMs). Such answers go uncompressed: a
   * worker's sync read (a few dozen VMs, 100 a second from 500 workers) would cost the controller a compressor each
   * for little saved.
   */
  fitsOneRead: boolean;
}

/** Cursor of the VM list: base64url of `n:` and the name of the page's last VM (opaque to clients). */
export function encodeVmListCursor(lastName: string): string {
  return Buffer.from(`n:${lastName}`, 'utf8').toString('base64url');
}

/** The name a cursor continues after; undefined when the text is no cursor this controller wrote. */
export function decodeVmListCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith('n:') || text.length === 2 || encodeVmListCursor(text.slice(2)) !== cursor.replace(/=+$/, '')) {
    return undefined;
  }
  const name = text.slice(2);
  return isStorableText(name) ? name : undefined;
}

/**
 * The chunks of `range` from `first` (read with `firstRows`) on. The next chunk is read while the current one is being
 * sent, so that the database and the connection work at the same time; a chunk shorter than asked is the last, unless
 * it says otherwise (`more`).
 */
export async function* chunksAfter(
  read: (range: VmListRange, rows: number) => Promise<VmListChunk | undefined>,
  range: VmListRange,
  first: VmListChunk | undefined,
  firstRows: number,
): AsyncGenerator<Buffer> {
  let chunk = first;
  let asked = firstRows;
  while (chunk) {
    const more = chunk.more ?? chunk.count >= asked;
    const next = more ? read({ ...range, after: chunk.last }, CHUNK_ROWS) : undefined;
    // Awaited below; a client gone meanwhile leaves it unawaited, and its failure then concerns nobody.
    next?.catch(() => undefined);
    yield chunk.json;
    asked = CHUNK_ROWS;
    chunk = await next;
  }
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');
const EMPTY = Buffer.from('[]');

/** The pieces of the JSON array of the chunks: each chunk with the separator before it, then the end. */
async function* jsonArray(chunks: AsyncIterable<string> | VmListChunks): AsyncGenerator<Buffer[]> {
  let first = true;
  for await (const json of 'bytes' in chunks ? chunks.bytes() : chunks) {
    yield [first ? OPEN : COMMA, typeof json === 'string' ? Buffer.from(json, 'utf8') : json];
    first = false;
  }
  yield [first ? EMPTY : CLOSE];
}

async function* flat(pieces: AsyncIterable<Buffer[]>): AsyncGenerator<Buffer> {
  for await (const group of pieces) {
    yield* group;
  }
}

/** The JSON array of the chunks, as a byte stream. */
export function jsonArrayStream(chunks: AsyncIterable<string> | VmListChunks): Readable {
  return Readable.from(flat(jsonArray(chunks)), { objectMode: false });
}

/**
 * The same, gzip-compressed. Compression on this one route rather than a compression plugin for the whole API: the list
 * is the only large answer, and the watch streams (NDJSON) must not wait in a compressor's buffer. Each piece is
 * compressed on its own and sent as soon as it is (vm-list-gzip.ts), so the first bytes leave after the first chunk, and
 * a chunk sent unchanged by the list before is not compressed again.
 */
export function gzipJsonArrayStream(chunks: AsyncIterable<string> | VmListChunks): Readable {
  return gzipPieces(flat(jsonArray(chunks)));
}

/** Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*` without `q=0`). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) {
    return false;
  }
  let gzip: boolean | undefined;
  let any = false;
  for (const part of header.split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find((m) => m !== null);
    const accepted = q ? Number(q[1]) > 0 : true;
    if (coding.trim() === 'gzip' || coding.trim() === 'x-gzip') {
      gzip = accepted;
    } else if (coding.trim() === '*') {
      any = accepted;
    }
  }
  return gzip ?? any;
}
