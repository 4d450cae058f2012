import { createServer, connect, type Socket } from 'node:net';
import { configureTunnelSocket } from './socket-options';

describe('configureTunnelSocket', () => {
  it('turns on TCP_NODELAY and keep-alive on a real socket', async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const socket: Socket = connect(port, '127.0.0.1');
    const noDelay = jest.spyOn(socket, 'setNoDelay');
    const keepAlive = jest.spyOn(socket, 'setKeepAlive');
    expect(configureTunnelSocket(socket)).toBe(socket);
    expect(noDelay).toHaveBeenCalledWith(true);
    expect(keepAlive).toHaveBeenCalledWith(true, 30_000);
    await new Promise((resolve) => socket.once('close', resolve));
    await new Promise((resolve) => server.close(resolve));
  });
});
