import { createReadStream, type ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';

/** Where `node apps/console/build.mjs` writes the console, seen from this file in `apps/controller/{src,dist}/console`. */
export function defaultConsoleDir(): string {
  return resolve(__dirname, '..', '..', '..', 'console', 'dist');
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** The content type of a console file by its extension; unknown ones are bytes the browser must not sniff. */
export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Names esbuild gives hashed outputs (`app-5KJ2NMXG.js`, `[name]-[hash]`) or hex-hashed files (`font.3f9a1c0b.woff2`):
 * their content never changes under the same name, so browsers may keep them a year. Everything else (index.html,
 * `app.js`) is revalidated on each load, cheaply with its ETag.
 */
export function isHashedName(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return /[-.]([A-Z0-9]{8}|[a-f0-9]{8,})\.[A-Za-z0-9]+$/.test(base);
}

export function cacheControlOf(path: string): string {
  return isHashedName(path) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/**
 * The console page's policy: its own scripts, styles, fonts and images only, no plugins, no framing, API and
 * WebSocket calls to this origin. `'unsafe-inline'` for styles only: xterm.js writes its theme and cell sizes into a
 * `<style>` element it creates; noVNC draws its cursor from `data:` URLs and decodes frames through `blob:` ones.
 */
export function consoleContentSecurityPolicy(host: string | undefined): string {
  // CSP Level 3's 'self' covers ws:/wss: of the same host; older browsers need the host spelled out.
  const sameHostSockets = host && /^[A-Za-z0-9.\-[\]:]+$/.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${sameHostSockets}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** A console file found on disk, ready to stream. */
export interface ConsoleFile {
  path: string;
  size: number;
  etag: string;
  lastModified: Date;
  open(): ReadStream;
}

/**
 * The file `relative` (the URL path after `/ui/`, still percent-encoded) of the console directory `root`, or
 * undefined when it does not exist, is a directory, or would leave the directory (`..`, encoded slashes, NUL) or is
 * hidden (a dot name). An empty path is `index.html`.
 */
export async function findConsoleFile(root: string, relative: string): Promise<ConsoleFile | undefined> {
  let segments: string[];
  try {
    // Segment by segment: an encoded slash (`%2F`) is part of a name, not a separator, and so never names a file.
    segments = relative === '' ? ['index.html'] : relative.split('/').map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
  if (segments.some((s) => s === '' || s.startsWith('.') || /[/\\\0]/.test(s))) {
    return undefined;
  }
  const base = resolve(root);
  const path = join(base, ...segments);
  if (!path.startsWith(base + sep)) {
    return undefined;
  }
  try {
    const info = await stat(path);
    if (!info.isFile()) {
      return undefined;
    }
    return {
      path,
      size: info.size,
      etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
      lastModified: info.mtime,
      open: () => createReadStream(path),
    };
  } catch {
    return undefined;
  }
}
