import { VmListCache, VmListReader } from './vm-list-cache';
import type { VmListRange, VmListRow } from './vm.repository';

/** A table of VMs as Postgres would answer `listRows`: name order, documents left out for the keys offered. */
class FakeTable {
  readonly offered: string[][] = [];
  constructor(public rows: Array<{ name: string; key: string; document: string }>) {}

  read = (range: VmListRange, rows: number, known: string[]): Promise<VmListRow[]> => {
    this.offered.push(known);
    const knownSet = new Set(known);
    return Promise.resolve(
      this.rows
        .filter((row) => range.after === undefined || row.name > range.after)
        .filter((row) => range.through === undefined || row.name <= range.through)
        .slice(0, rows)
        .map((row) => ({ ...row, document: knownSet.has(row.key) ? null : row.document })),
    );
  };
}

async function listAll(cache: VmListCache, table: FakeTable, rows = 2, chunks: Buffer[] = []): Promise<string> {
  const reader = new VmListReader(cache, table.read, {});
  const pieces: string[] = [];
  let after: string | undefined;
  for (;;) {
    const chunk = await reader.read(after === undefined ? {} : { after }, rows);
    if (!chunk) {
      break;
    }
    pieces.push(chunk.json.toString('utf8'));
    chunks.push(chunk.json);
    after = chunk.last;
    if (!(chunk.more ?? chunk.count >= rows)) {
      break;
    }
  }
  return pieces.join(',');
}

const vm = (name: string, version: number, extra = '') => ({
  name,
  key: `${version}.1`,
  document: `{"name":"${name}","version":${version}${extra}}`,
});

describe('VM list cache', () => {
  it('offers what the last whole list read and serves the same text, changes included', async () => {
    const table = new FakeTable([vm('a', 1), vm('b', 2), vm('c', 3, ',"ü":"é"'), vm('d', 4), vm('e', 5)]);
    const cache = new VmListCache();
    const expected = () => table.rows.map((row) => row.document).join(',');

    expect(await listAll(cache, table)).toBe(expected());
    expect(table.offered.every((known) => known.length === 0)).toBe(true);

    // Along the chunks of the last list: where nothing changed, the very same bytes are sent again.
    table.offered.length = 0;
    const first: Buffer[] = [];
    expect(await listAll(cache, table, 2, first)).toBe(expected());
    expect(table.offered.slice(0, 3)).toEqual([['1.1', '2.1'], ['3.1', '4.1'], ['5.1']]);
    const again: Buffer[] = [];
    expect(await listAll(cache, table, 2, again)).toBe(expected());
    expect(again.slice(0, 3).every((chunk, i) => chunk === first[i])).toBe(true);

    // A change, a deletion and new VMs (one sorting last): each read still returns what the table holds now, and only
    // the chunks they fall in are built anew.
    table.rows = [vm('a', 1), vm('b', 9, ',"changed":true'), vm('d', 4), vm('da', 10), vm('e', 5), vm('f', 11)];
    const changed: Buffer[] = [];
    expect(await listAll(cache, table, 2, changed)).toBe(expected());
    expect(changed[0]).not.toBe(again[0]);
    expect(await listAll(cache, table)).toBe(expected());
    table.rows = [vm('e', 5)];
    expect(await listAll(cache, table)).toBe(expected());
    table.rows = [];
    expect(await listAll(cache, table)).toBe('');
  });

  it('becomes the cache only from a whole list read to its end', async () => {
    const table = new FakeTable([vm('a', 1), vm('b', 2), vm('c', 3)]);
    const cache = new VmListCache();
    const partial = new VmListReader(cache, table.read, {});
    await partial.read({}, 2);
    const paged = new VmListReader(cache, table.read, { after: 'a' });
    await paged.read({ after: 'a' }, 5);
    expect(cache.snapshot().listed).toHaveLength(0);
    await listAll(cache, table);
    expect(cache.snapshot().listed.map((listed) => listed.name)).toEqual(['a', 'b', 'c']);
  });
});
