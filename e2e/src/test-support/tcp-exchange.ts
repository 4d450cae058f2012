import { connect } from 'node:net';

/**
 * Connects to 127.0.0.1:port (e.g. the local side of `grove port-forward`), sends `data`, shuts down its writing side
 * and resolves with everything read back until the other side ends.
 */
export function tcpExchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.end(data);
  });
}
