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
        .slice(0, rows)
        .map((row) => ({ ...row, document: knownSet.has(row.key) ? null : row.document })),
    );
  };
}

async function listAll(cache: VmListCache, table: FakeTable, rows = 2): Promise<string> {
  const reader = new VmListReader(cache, table.read, {});
  const pieces: string[] = [];
  let after: string | undefined;
  for (;;) {
    const chunk = await reader.read(after === undefined ? {} : { after }, rows);
    if (!chunk) {
      break;
    }
    pieces.push(chunk.json.toString('utf8'));
    after = chunk.last;
    if (chunk.count < rows) {
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

    table.offered.length = 0;
    expect(await listAll(cache, table)).toBe(expected());
    expect(table.offered[0]).toEqual(['1.1', '2.1', '3.1']);

    // A change, a deletion and a new VM: each read still returns what the table holds now.
    table.rows = [vm('a', 1), vm('b', 9, ',"changed":true'), vm('bb', 10), vm('d', 4), vm('e', 5)];
    expect(await listAll(cache, table)).toBe(expected());
    expect(await listAll(cache, table)).toBe(expected());
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
