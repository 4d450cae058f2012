// A host process for the worker's tests (orchard-2026.md §1.2.3), run as `node host-process-echo.cjs [options]`:
// it listens on $ORCHARD_PROCESS_SOCKET and, for each connection, first writes one JSON line describing itself
// ({argv, env, cwd, pid}) and then echoes what it receives. Options change how it behaves:
//   --exit N             exit with code N at once, without listening
//   --never-listen       run without ever listening
//   --listen-after MS    listen only after MS milliseconds
//   --ignore-term        ignore SIGTERM (only SIGKILL ends it)
//   --grandchild FILE    start a child that sleeps in the same process group, writing its pid to FILE
//   --say TEXT           print TEXT on stdout and on stderr at start
// A client that sends a line `exit N` makes it exit with code N.
'use strict';
const { spawn } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { createServer } = require('node:net');

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : (args[i + 1] ?? '');
};
const has = (name) => args.includes(name);

// Something to keep the event loop alive however the options go.
setInterval(() => undefined, 60_000);

if (has('--ignore-term')) {
  process.on('SIGTERM', () => undefined);
}
const say = option('--say');
if (say !== undefined) {
  process.stdout.write(`${say}\n`);
  process.stderr.write(`${say}\n`);
}
const grandchildFile = option('--grandchild');
if (grandchildFile !== undefined) {
  const child = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => undefined); setInterval(() => 0, 60000)"], {
    stdio: 'ignore',
  });
  writeFileSync(grandchildFile, String(child.pid));
}
const exitCode = option('--exit');
if (exitCode !== undefined) {
  process.exit(Number(exitCode));
}

function listen() {
  const server = createServer((socket) => {
    socket.write(
      `${JSON.stringify({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd(), pid: process.pid })}\n`,
    );
    socket.pipe(socket);
    socket.on('error', () => undefined);
    socket.on('data', (data) => {
      const asked = /^exit (\d+)$/m.exec(data.toString());
      if (asked) {
        process.exit(Number(asked[1]));
      }
    });
  });
  server.listen(process.env.ORCHARD_PROCESS_SOCKET);
}

if (!has('--never-listen')) {
  const after = option('--listen-after');
  if (after === undefined) {
    listen();
  } else {
    setTimeout(listen, Number(after));
  }
}
