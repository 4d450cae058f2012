import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports handed to tests come from below the kernel's ephemeral range: a port picked with `listen(0)` and then
 * closed can be taken by any outgoing connection (every test's clients use that range) before the server that
 * was meant to have it binds it, which showed up as `EADDRINUSE` on CI. Each Jest worker gets its own slice of
 * the range so that two test files never pick the same port, and every port is checked bindable first.
 */
const FIRST_PORT = 10_000;
const SLICES = 16;

let next: number | undefined;

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const start = Number(low);
    return Number.isInteger(start) && start > FIRST_PORT + SLICES * 64 ? start : 32_768;
  } catch {
    return 32_768;
  }
}

function slice(): { first: number; size: number } {
  const size = Math.floor((ephemeralStart() - FIRST_PORT) / SLICES);
  const worker = Number(process.env['JEST_WORKER_ID']);
  const index = Number.isInteger(worker) && worker > 0 ? (worker - 1) % SLICES : process.pid % SLICES;
  return { first: FIRST_PORT + index * size, size };
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A loopback port nothing listens on, unlikely to be taken before the caller binds it (see above). */
export async function freePort(): Promise<number> {
  const { first, size } = slice();
  next ??= Math.floor(Math.random() * size);
  for (let tries = 0; tries < size; tries += 1) {
    const port = first + (next % size);
    next += 1;
    if (await bindable(port)) {
      return port;
    }
  }
  throw new Error(`no free loopback port in ${first}-${first + size - 1}`);
}
