/**
 * Formats rows as a plain-text table: a header line, columns separated by at least two spaces, no trailing spaces.
 * Every line ends with a newline.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [headers, ...rows].map((cells) => `${line(cells)}\n`).join('');
}

/** Formats `key: value` pairs with the values aligned. */
export function formatKeyValues(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([key]) => key.length + 1));
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width)}  ${value}`.trimEnd() + '\n').join('');
}

/**
 * A timestamp as a relative age: `5s ago`, `3m ago`, `2h ago`, `4d ago`. Go's zero time (which Orchard sends for
 * "never") and unparsable values read `never`; times in the future (clock skew) read `0s ago`.
 */
export function formatAge(timestamp: string | undefined, now: Date): string {
  if (!timestamp) {
    return 'never';
  }
  const time = Date.parse(timestamp);
  if (Number.isNaN(time) || new Date(time).getUTCFullYear() <= 1) {
    return 'never';
  }
  const seconds = Math.max(0, Math.floor((now.getTime() - time) / 1000));
  if (seconds < 60) {
    return `${seconds}s ago`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)}m ago`;
  }
  if (seconds < 86_400) {
    return `${Math.floor(seconds / 3600)}h ago`;
  }
  return `${Math.floor(seconds / 86_400)}d ago`;
}
