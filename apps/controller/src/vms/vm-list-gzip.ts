import { Readable } from 'node:stream';
import { constants as zlibConstants, crc32, deflateRaw, deflateRawSync } from 'node:zlib';

/**
 * Gzip of `GET /v1/vms` built from pieces compressed one by one (issue 13): each piece of the list (a chunk of documents,
 * a separator) is compressed on its own, ending on a byte boundary without the final-block bit (a full flush), so that
 * compressed pieces can follow each other in one deflate stream; the CRC-32 of the whole is combined from the pieces'.
 * A chunk the list sends again unchanged (vm-list-cache.ts keeps it as the same buffer) is compressed once, not for
 * every list. Level 1, as before: on JSON of repetitive documents nearly the default level's size for half its CPU.
 */
interface Compressed {
  deflated: Buffer;
  crc: number;
  length: number;
}

/** The compressed form of each piece still in use, by the piece's buffer. */
const compressed = new WeakMap<Buffer, Promise<Compressed>>();

/** ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=4 (fastest) OS=3 (Unix), as zlib writes it at level 1. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0x04, 0x03]);
/** An empty final block: the end of the deflate stream. */
const FINAL_BLOCK = deflateRawSync(Buffer.alloc(0));

function compress(piece: Buffer): Promise<Compressed> {
  let done = compressed.get(piece);
  if (!done) {
    done = new Promise<Compressed>((resolve, reject) => {
      // In zlib's thread pool: a chunk of 1,000 documents takes a few milliseconds.
      deflateRaw(piece, { level: zlibConstants.Z_BEST_SPEED, finishFlush: zlibConstants.Z_FULL_FLUSH }, (err, out) =>
        err ? reject(err) : resolve({ deflated: out, crc: crc32(piece), length: piece.length }),
      );
    });
    compressed.set(piece, done);
    done.catch(() => compressed.delete(piece));
  }
  return done;
}

/** The gzip stream of the pieces, each compressed piece sent as soon as it is there. */
export function gzipPieces(pieces: AsyncIterable<Buffer>): Readable {
  return Readable.from(gzipped(pieces), { objectMode: false });
}

async function* gzipped(pieces: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield GZIP_HEADER;
  let crc = 0;
  let length = 0;
  for await (const piece of pieces) {
    const part = await compress(piece);
    crc = crc32Combine(crc, part.crc, part.length);
    length += part.length;
    yield part.deflated;
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  yield Buffer.concat([FINAL_BLOCK, trailer]);
}

/**
 * The CRC-32 of `a` followed by `b`, from the CRC-32 of each and the length of `b` (zlib's crc32_combine: shifting
 * `crcA` over `lengthB` zero bytes is a linear map over GF(2), applied by squaring the one-zero-bit operator).
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) {
    return crcA >>> 0;
  }
  const odd = new Array<number>(32);
  const even = new Array<number>(32);
  odd[0] = 0xedb88320; // the CRC-32 polynomial, reflected: the operator for one zero bit
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) {
    odd[n] = row >>> 0;
  }
  square(even, odd); // two zero bits
  square(odd, even); // four zero bits
  let crc = crcA >>> 0;
  let rest = lengthB;
  for (;;) {
    square(even, odd); // the next power of two of zero bytes
    if (rest % 2 === 1) {
      crc = times(even, crc);
    }
    rest = Math.floor(rest / 2);
    if (rest === 0) {
      break;
    }
    square(odd, even);
    if (rest % 2 === 1) {
      crc = times(odd, crc);
    }
    rest = Math.floor(rest / 2);
    if (rest === 0) {
      break;
    }
  }
  return (crc ^ crcB) >>> 0;
}

function times(matrix: number[], vector: number): number {
  let sum = 0;
  for (let i = 0, v = vector >>> 0; v !== 0; i++, v >>>= 1) {
    if (v & 1) {
      sum ^= matrix[i];
    }
  }
  return sum >>> 0;
}

function square(result: number[], matrix: number[]): void {
  for (let n = 0; n < 32; n++) {
    result[n] = times(matrix, matrix[n]);
  }
}
