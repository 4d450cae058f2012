/**
 * Text that Postgres can store: no NUL character (a `text` column refuses the byte, a `json`/`jsonb` value the
 * `\u0000` escape) and no lone UTF-16 surrogate (JSON's `\ud800` without its pair is invalid input to Postgres,
 * and in UTF-8 it has no encoding at all). Issue 12, item 5: such text in a name, a query or a body was passed to
 * the database, which answered with an error that became a 500.
 */
export function isStorableText(text: string): boolean {
  // A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one
  // (String.prototype.isWellFormed is ES2024; the workspace's lib is ES2023).
  return (
    !text.includes('\u0000') && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)
  );
}

/**
 * The path of the first string (value or object key) in `value` that Postgres cannot store, e.g. `labels.a` or
 * `hostDirs[0].path`; undefined when there is none. `prefix` names `value` itself.
 */
export function findUnstorableText(value: unknown, prefix: string, depth = 0): string | undefined {
  if (typeof value === 'string') {
    return isStorableText(value) ? undefined : prefix;
  }
  // JSON bodies are at most 1 MiB, but nesting is unbounded; deeper than any Grove resource is not searched further.
  if (value === null || typeof value !== 'object' || depth > 64) {
    return undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], `${prefix}[${i}]`, depth + 1);
      if (found !== undefined) {
        return found;
      }
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (!isStorableText(key)) {
      return path;
    }
    const found = findUnstorableText(item, path, depth + 1);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}
