import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { TUNNEL_OPENED, tunnelRefusal } from '@grove/client';
import { readAll } from '@grove/testing';
import { acceptRawClient, LinkSession } from './link-session';

/** Two ends of a loopback TCP connection: [the end this side keeps, the far end]. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const near = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [far] = await accepted;
  await once(near, 'connect');
  server.close();
  // The tests reset connections on purpose; each reads what it cares about from the data and the close.
  far.on('error', () => undefined);
  return [near, far];
}

/** Resolves with the first `n` bytes read from `socket`. */
function firstBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= n) {
        socket.off('data', onData);
        resolve(got.subarray(0, n));
      }
    };
    socket.on('data', onData);
  });
}

const SWITCHING = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: grove-tunnel/1\r\n\r\n';

/**
 * A session over a worker's raw link, with the controller's two sockets as loopback pairs: `user` is the client
 * program's end, `worker` the worker's end of the link.
 */
describe('LinkSession', () => {
  let user: Socket;
  let worker: Socket;
  let session: LinkSession;

  beforeEach(async () => {
    const [clientSocket, userEnd] = await socketPair();
    const [linkSocket, workerEnd] = await socketPair();
    user = userEnd;
    worker = workerEnd;
    session = new LinkSession(acceptRawClient(clientSocket, false), linkSocket, () => Promise.resolve(true));
  });

  afterEach(() => {
    user.destroy();
    worker.destroy();
  });

  it("passes the client's bytes to the worker before the worker's status came, and answers once it did", async () => {
    const early = firstBytes(worker, 5);
    user.write('hello');
    // The worker has not answered yet, and already has the bytes.
    expect((await early).toString()).toBe('hello');
    const answer = readAll(user);
    worker.end(Buffer.concat([TUNNEL_OPENED, Buffer.from('world')]));
    user.end();
    expect((await answer).toString('latin1')).toBe(`${SWITCHING}\u0000world`);
    await expect(session.done).resolves.toMatchObject({ result: 'closed', bytesSent: 5, bytesReceived: 5 });
  });

  it("refuses the client with the worker's reason, even after the client sent bytes", async () => {
    user.write('lost');
    await firstBytes(worker, 4);
    const answer = readAll(user);
    worker.end(tunnelRefusal('connect ECONNREFUSED 127.0.0.1:7'));
    expect((await answer).toString('latin1')).toBe(
      `${SWITCHING}${tunnelRefusal('connect ECONNREFUSED 127.0.0.1:7').toString('latin1')}`,
    );
    await expect(session.done).resolves.toMatchObject({
      result: 'error',
      error: 'connect ECONNREFUSED 127.0.0.1:7',
    });
  });

  it('refuses the client when the link closes before the status', async () => {
    const answer = readAll(user);
    worker.destroy();
    expect((await answer).toString('latin1')).toBe(
      `${SWITCHING}${tunnelRefusal('the connection to the worker was lost').toString('latin1')}`,
    );
    await expect(session.done).resolves.toMatchObject({ result: 'error' });
  });
});
