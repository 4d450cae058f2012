import type { VmListChunk, VmListRange, VmListRow } from './vm.repository';

/**
 * The bytes of the documents the last whole `GET /v1/vms` sent (issue 13: a list of 10,000 VMs cost 50–60 ms of the
 * controller's CPU, most of it turning 11 MB of text from Postgres into a string and the string back into bytes). Each
 * document is held under its row's key, the VM's version with the row's `xmin`: every write of a VM draws a new version,
 * and any write of the row at all (a migration, an operator at the SQL prompt) a new `xmin`, so a key names exactly one
 * stored text. A read tells Postgres the keys it expects and gets the text of every other row only; whatever it gets
 * back is what Postgres holds at that moment, so a VM changed a millisecond ago shows its change, and the cache can
 * only spare work, never change an answer.
 */
export interface VmListed {
  name: string;
  key: string;
  /** The document as sent: `chunk[start, end)`, in the chunk it was sent in. */
  chunk: Buffer;
  start: number;
  end: number;
}

/** The whole list as one read left it, in name order (as Postgres sorts). */
class ListedFleet {
  private places: Map<string, number> | undefined;

  constructor(readonly listed: readonly VmListed[]) {}

  /** Where a VM's name was in the list (built on first use: a whole list needs it only when a chunk held no VM it knew). */
  placeOf(name: string): number | undefined {
    this.places ??= new Map(this.listed.map((vm, i) => [vm.name, i]));
    return this.places.get(name);
  }
}

/**
 * How many documents beyond a chunk's rows a read offers as expected: VMs deleted since the last whole list move the
 * rest forward, and a document not offered is only read again, not missed.
 */
const EXPECTED_SLACK = 0.25;

const COMMA = 0x2c;

export class VmListCache {
  private fleet = new ListedFleet([]);

  /** What the last whole list read; a list holds on to the one it started with while newer ones replace it. */
  snapshot(): ListedFleet {
    return this.fleet;
  }

  /** A whole list was read to its end: later lists expect its documents. */
  replace(listed: VmListed[]): void {
    this.fleet = new ListedFleet(listed);
  }
}

/** Reads the rows of a range, leaving out the documents whose keys are `known`. */
export type VmListRowReader = (range: VmListRange, rows: number, known: string[]) => Promise<VmListRow[]>;

/**
 * One list's reads through the cache, chunk after chunk (chunksAfter calls `read` for each, in order). Each read offers
 * the keys of the documents the last whole list had where this chunk should start; the chunk is built in one buffer
 * from those bytes (copied in runs: documents that were next to each other last time usually still are) and from the
 * texts Postgres sent. A list of the whole fleet, read to its end, becomes the cache.
 */
export class VmListReader {
  private readonly fleet: ListedFleet;
  /** Where in the last whole list the next chunk should start; undefined when nothing tells. */
  private next: number | undefined;
  /** The documents of a whole list so far, for the cache. */
  private readonly seen: VmListed[] | undefined;

  constructor(
    private readonly cache: VmListCache,
    private readonly readRows: VmListRowReader,
    range: VmListRange,
  ) {
    this.fleet = cache.snapshot();
    const whole = range.worker === undefined && range.after === undefined && range.through === undefined;
    this.seen = whole ? [] : undefined;
    this.next = range.after === undefined ? 0 : this.after(range.after);
  }

  async read(range: VmListRange, rows: number): Promise<VmListChunk | undefined> {
    // Along the chunks of the last whole list while there are any: each read covers the names one of them covered, so
    // that where nothing changed the chunk is that chunk again, sent as it is (no copy, no new buffer); a VM created or
    // deleted changes only the chunk its name falls in. Pages (`through`) read by count.
    let from = this.next;
    while (range.through === undefined && from !== undefined && from < this.fleet.listed.length) {
      const to = this.spanEnd(from);
      const span = this.fleet.listed.slice(from, to + 1);
      const known = new Map(span.map((vm, i) => [vm.key, from! + i]));
      const limit = span.length + rows;
      // The last span reads on to the end of the table: a list that ends within it knows so (a short list is sent
      // uncompressed, as the first one was).
      const lastSpan = to + 1 >= this.fleet.listed.length;
      const spanRange = lastSpan ? range : { ...range, through: span[span.length - 1].name };
      const found = await this.readRows(spanRange, limit, [...known.keys()]);
      // More VMs than the span and a chunk: go on by count from here.
      this.next = found.length >= limit ? undefined : to + 1;
      if (found.length > 0) {
        const chunk = this.chunk(found, known, span);
        const more = !lastSpan || found.length >= limit;
        if (!more && this.seen) {
          this.cache.replace(this.seen);
        }
        return { ...chunk, more };
      }
      range = { ...range, after: span[span.length - 1].name };
      from = this.next;
    }
    const known = this.expected(rows);
    const found = await this.readRows(range, rows, [...known.keys()]);
    const chunk = found.length === 0 ? undefined : this.chunk(found, known);
    let furthest: number | undefined;
    for (const row of found) {
      const place = row.document === null ? known.get(row.key) : undefined;
      furthest = place === undefined ? furthest : Math.max(furthest ?? place, place);
    }
    if (furthest === undefined && found.length > 0) {
      furthest = this.fleet.placeOf(found[found.length - 1].name);
    }
    this.next = furthest === undefined ? undefined : furthest + 1;
    if (found.length < rows && this.seen) {
      this.cache.replace(this.seen);
    }
    return chunk;
  }

  /**
   * The chunk of `found`: the old chunk itself when `found` is exactly the documents of `span` (a whole chunk of the last
   * list), else one new buffer built from the bytes held and the texts read.
   */
  private chunk(found: VmListRow[], known: ReadonlyMap<string, number>, span?: readonly VmListed[]): VmListChunk {
    const last = found[found.length - 1].name;
    if (span && this.isWholeChunk(found, known, span)) {
      this.seen?.push(...span);
      return { json: span[0].chunk, last, count: found.length };
    }
    const sources = found.map((row) => (row.document === null ? this.knownSource(known, row) : undefined));
    let length = found.length - 1;
    for (const [i, row] of found.entries()) {
      const source = sources[i];
      length += source ? source.end - source.start : Buffer.byteLength(row.document!, 'utf8');
    }
    const json = Buffer.allocUnsafe(length);
    let at = 0;
    // A run of documents to copy at once: `run.chunk[run.start, run.end)` goes to `json` at `runAt`.
    let run: VmListed | undefined;
    let runAt = 0;
    const flush = () => {
      if (run) {
        run.chunk.copy(json, runAt, run.start, run.end);
        run = undefined;
      }
    };
    for (const [i, row] of found.entries()) {
      if (i > 0) {
        json[at++] = COMMA;
      }
      const start = at;
      const source = sources[i];
      if (source) {
        if (run && source.chunk === run.chunk && source.start === run.end + 1) {
          run.end = source.end;
        } else {
          flush();
          run = { ...source };
          runAt = at;
        }
        at += source.end - source.start;
      } else {
        flush();
        at += json.write(row.document!, at, 'utf8');
      }
      this.seen?.push({ name: row.name, key: row.key, chunk: json, start, end: at });
    }
    flush();
    return { json, last, count: found.length };
  }

  private isWholeChunk(found: VmListRow[], known: ReadonlyMap<string, number>, span: readonly VmListed[]): boolean {
    const first = span[0];
    const last = span[span.length - 1];
    if (found.length !== span.length || first.start !== 0 || last.end !== first.chunk.length) {
      return false;
    }
    const from = known.get(first.key);
    return found.every((row, i) => row.document === null && known.get(row.key) === from! + i);
  }

  /** The last of the documents from `from` on that were sent in one piece of one chunk. */
  private spanEnd(from: number): number {
    const listed = this.fleet.listed;
    let to = from;
    while (
      to + 1 < listed.length &&
      listed[to + 1].chunk === listed[from].chunk &&
      listed[to + 1].start === listed[to].end + 1
    ) {
      to++;
    }
    return to;
  }

  /** The keys of the documents the last whole list had from where this chunk should start, with their places. */
  private expected(rows: number): Map<string, number> {
    const known = new Map<string, number>();
    if (this.next === undefined) {
      return known;
    }
    const end = Math.min(this.fleet.listed.length, this.next + Math.ceil(rows * (1 + EXPECTED_SLACK)));
    for (let i = this.next; i < end; i++) {
      known.set(this.fleet.listed[i].key, i);
    }
    return known;
  }

  private after(name: string): number | undefined {
    const place = this.fleet.placeOf(name);
    return place === undefined ? undefined : place + 1;
  }

  private knownSource(known: ReadonlyMap<string, number>, row: VmListRow): VmListed {
    const place = known.get(row.key);
    if (place === undefined) {
      // Postgres leaves out only documents whose keys it was given.
      throw new Error(`the VM list read left out the document of ${row.name}, which was not offered as known`);
    }
    return this.fleet.listed[place];
  }
}
