import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { freePort } from './free-port';

function ephemeralRange(): [number, number] {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  return [low, high];
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range that a server can then bind', async () => {
    const [ephemeralLow] = ephemeralRange();
    const ports: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      ports.push(await freePort());
    }
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(ephemeralLow);
    }
    const servers = await Promise.all(ports.map(listen));
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('skips a port that something already listens on', async () => {
    const taken = await freePort();
    // The allocator walks its slice in order, so the port after `taken` is the next candidate: occupy it.
    const blocker = await listen(taken + 1);
    try {
      const port = await freePort();
      expect(port).not.toBe(taken + 1);
      await listen(port).then((s) => new Promise((resolve) => s.close(resolve)));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
