/** Display helpers: ages, times, label maps. */

/** `5s`, `3m`, `2h`, `4d` since an RFC 3339 time (or a Unix time in seconds); `-` when unknown. */
export function age(since: string | number | undefined, at: number): string {
  if (since === undefined || since === '') {
    return '-';
  }
  const t = typeof since === 'number' ? since * 1000 : Date.parse(since);
  if (!Number.isFinite(t) || t <= 0) {
    return '-';
  }
  const s = Math.max(0, Math.floor((at - t) / 1000));
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m`;
  }
  if (s < 86_400) {
    return `${Math.floor(s / 3600)}h`;
  }
  return `${Math.floor(s / 86_400)}d`;
}

export function formatTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleString();
}

export function labelPairs(labels: Record<string, string> | undefined): string[] {
  return Object.entries(labels ?? {}).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
}

/**
 * Parses `key=value` pairs separated by commas or new lines into a map; throws an Error naming `field` and the bad
 * entry.
 */
export function parsePairs(field: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/[\n,]/)) {
    const entry = raw.trim();
    if (entry === '') {
      continue;
    }
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      throw new Error(`${field}: "${entry}" is not KEY=VALUE`);
    }
    out[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return out;
}
