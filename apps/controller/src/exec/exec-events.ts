import type { ExecEvent } from '@grove/resources';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * How many bytes at the end of `buf` begin a multi-byte UTF-8 character that is not complete yet (0–3): they wait
 * for the next chunk instead of making this one invalid.
 */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const byte = buf[buf.length - back];
    if ((byte & 0xc0) === 0x80) {
      continue; // a continuation byte: look further back for the lead byte
    }
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

/**
 * Turns one output stream of a command into `stdout`/`stderr` events of `POST /v1/vms/{name}/exec`: UTF-8 text when
 * the bytes are valid UTF-8, else base64 with `"encoding": "base64"`. A character split across two chunks is carried
 * over to the next chunk rather than making both invalid.
 */
export class OutputEventEncoder {
  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly stream: 'stdout' | 'stderr') {}

  /** The event for a chunk, or undefined when all of it waits for the rest of a character. */
  push(chunk: Buffer): ExecEvent | undefined {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const tail = incompleteTail(data);
    const body = data.subarray(0, data.length - tail);
    try {
      const text = strictUtf8.decode(body);
      this.carry = Buffer.from(data.subarray(data.length - tail));
      return text === '' ? undefined : { event: this.stream, data: text };
    } catch {
      this.carry = Buffer.alloc(0);
      return { event: this.stream, data: data.toString('base64'), encoding: 'base64' };
    }
  }

  /** What is left at the end of the stream: an unfinished character, sent as base64. */
  flush(): ExecEvent | undefined {
    if (this.carry.length === 0) {
      return undefined;
    }
    const rest = this.carry;
    this.carry = Buffer.alloc(0);
    return { event: this.stream, data: rest.toString('base64'), encoding: 'base64' };
  }
}
