// Builds the console into dist/: hashed scripts (the entry and the chunks loaded later), hashed stylesheets (fonts and
// images inlined or copied beside them) and an index.html naming them. Nothing refers to another host (issue 16: no
// external host at run time).
import { build } from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const outdir = join(root, 'dist');

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });

const result = await build({
  entryPoints: { app: join(root, 'src/main.tsx') },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  // The Terminal and Screen tabs' libraries (xterm.js, noVNC: most of the bytes) load when a tab first needs them.
  splitting: true,
  chunkNames: '[name]-[hash]',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir,
  entryNames: '[name]-[hash]',
  assetNames: 'assets/[name]-[hash]',
  loader: {
    '.woff': 'file',
    '.woff2': 'file',
    '.ttf': 'file',
    '.png': 'file',
    '.jpg': 'file',
    '.gif': 'file',
    '.svg': 'dataurl',
  },
  // Licences go to a file beside the bundle rather than into it.
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => /^app-.*\.js$/.test(name));
// esbuild does not load the CSS of lazily loaded chunks by itself: the page links every stylesheet (they are small).
const styles = outputs.filter((name) => name.endsWith('.css'));
if (!script) {
  throw new Error('the console build wrote no script');
}

// Same origin only: scripts and styles from the controller, API calls and WebSockets back to it. The controller sends
// its own (stricter) header too; this one keeps the page confined wherever else it is served from.
const csp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

const html = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="color-scheme" content="light dark" />
    <meta http-equiv="Content-Security-Policy" content="${csp}" />
    <title>Grove console</title>
    ${styles.map((name) => `<link rel="stylesheet" href="./${name}" />`).join('\n    ')}
    <script type="module" src="./${script}"></script>
  </head>
  <body>
    <div id="app"></div>
    <noscript>The Grove console needs JavaScript.</noscript>
  </body>
</html>
`;
await writeFile(join(outdir, 'index.html'), html);

const sizes = Object.entries(result.metafile.outputs)
  .filter(([path]) => !path.endsWith('.map'))
  .map(([path, meta]) => `${basename(path)} ${(meta.bytes / 1024).toFixed(1)} KiB`);
console.log(`console: ${sizes.join(', ')}`);
