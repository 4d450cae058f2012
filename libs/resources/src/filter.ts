import type { Vm } from './vm';

/** One `path=value` condition of a `?filter=` query. */
export interface Filter {
  path: string;
  value: string;
}

/**
 * Parses Orchard's list filter: comma-separated `path=value` pairs (orchard.md §1.3). Throws on a pair without `=`
 * or with an empty path.
 */
export function parseFilters(text: string): Filter[] {
  if (text === '') {
    return [];
  }
  return text.split(',').map((pair) => {
    const idx = pair.indexOf('=');
    if (idx <= 0) {
      throw new Error(`invalid filter "${pair}": expected path=value`);
    }
    return { path: pair.slice(0, idx), value: pair.slice(idx + 1) };
  });
}

/** Only `worker=<name>` is understood; any other path matches nothing, as in Orchard. */
export function vmMatchesFilters(vm: Pick<Vm, 'worker'>, filters: readonly Filter[]): boolean {
  return filters.every((f) => f.path === 'worker' && vm.worker === f.value);
}
