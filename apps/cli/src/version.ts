import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let cached: string | undefined;

/** The CLI's version from its package.json (one directory above both src/ and dist/). */
export function cliVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
      cached = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
    } catch {
      cached = '0.0.0';
    }
  }
  return cached;
}
