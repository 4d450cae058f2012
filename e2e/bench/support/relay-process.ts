import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { SocketSplice, configureTunnelSocket } from '@grove/tunnel';

/**
 * A plain relay process for the tunnel benchmark's floor rows (relay-chain.ts): for each target port given as an
 * argument it listens on a free loopback port and relays every accepted connection to that target with the same
 * SocketSplice (large reads, backpressure, half-close) that Grove's hops use, and nothing else: no protocol, no
 * authorisation, no control plane. Prints the listening ports, one line of JSON, once all listen.
 *
 *   node e2e/dist/bench/support/relay-process.js 41000 41001 41002
 */
function relayTo(targetPort: number): Promise<number> {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (user: Socket) => {
    user.on('error', () => undefined);
    const target = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true, noDelay: true });
    target.on('error', () => undefined);
    configureTunnelSocket(user);
    configureTunnelSocket(target);
    new SocketSplice(
      { stream: user, lostMessage: 'user went away' },
      { stream: target, lostMessage: 'target went away' },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

async function main(): Promise<void> {
  const targets = process.argv.slice(2).map(Number);
  if (targets.length === 0 || targets.some((port) => !Number.isInteger(port) || port <= 0 || port > 65535)) {
    throw new Error('usage: relay-process.js TARGET_PORT... (loopback ports to relay to)');
  }
  const ports = await Promise.all(targets.map(relayTo));
  process.stdout.write(`${JSON.stringify(ports)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`relay-process: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
