import { createServer, type Server, type Socket } from 'node:net';

/** What a fake server does with a connection. */
export type FakeBehaviour =
  /** Accept, then close at once (a server that dies as the client connects). */
  | { kind: 'close' }
  /** Accept and never answer (a hung server, or packets dropped on the way). */
  | { kind: 'silent' }
  /** Answer the startup message with an error (what Postgres does while starting up or shutting down). */
  | { kind: 'refuse'; code: string; message: string }
  /** Accept the login (trust), then answer every query with an error; FATAL closes the connection, as Postgres does. */
  | { kind: 'fail-queries'; severity: 'ERROR' | 'FATAL'; code: string; message: string }
  /** Accept the login, then close the socket when the first query arrives (a server killed mid-query). */
  | { kind: 'close-on-query' };

/**
 * A loopback TCP server that speaks just enough of the Postgres wire protocol (v3, no TLS) for pg to produce, through
 * its own parser and state machine, the errors it produces against a real server that stops, restarts or hangs.
 */
export interface FakePostgresServer {
  port: number;
  close(): Promise<void>;
}

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/** ErrorResponse with the fields Postgres always sends. */
function errorResponse(severity: string, code: string, text: string): Buffer {
  const fields = [
    ['S', severity],
    ['V', severity],
    ['C', code],
    ['M', text],
  ]
    .map(([field, value]) => `${field}${value}\0`)
    .join('');
  return message('E', Buffer.from(`${fields}\0`, 'utf8'));
}

const AUTHENTICATION_OK = message('R', Buffer.from([0, 0, 0, 0]));
const READY_FOR_QUERY = message('Z', Buffer.from('I', 'latin1'));

function serve(socket: Socket, behaviour: FakeBehaviour): void {
  socket.on('error', () => undefined);
  if (behaviour.kind === 'close') {
    socket.destroy();
    return;
  }
  let started = false;
  socket.on('data', (data: Buffer) => {
    // The first packet is the startup message (a few dozen bytes, one read); each later one, a query or the
    // Terminate ('X') of a client that ends the connection.
    if (started && data[0] === 'X'.charCodeAt(0)) {
      socket.end();
      return;
    }
    if (!started) {
      started = true;
      switch (behaviour.kind) {
        case 'silent':
          return;
        case 'refuse':
          socket.end(errorResponse('FATAL', behaviour.code, behaviour.message));
          return;
        case 'fail-queries':
        case 'close-on-query':
          socket.write(Buffer.concat([AUTHENTICATION_OK, READY_FOR_QUERY]));
          return;
      }
    }
    switch (behaviour.kind) {
      case 'close-on-query':
        socket.destroy();
        return;
      case 'fail-queries':
        if (behaviour.severity === 'FATAL') {
          socket.end(errorResponse('FATAL', behaviour.code, behaviour.message));
        } else {
          socket.write(Buffer.concat([errorResponse('ERROR', behaviour.code, behaviour.message), READY_FOR_QUERY]));
        }
        return;
      case 'silent':
      case 'refuse':
        // Nothing more comes: the silent server never answered, the refusing one closed.
        return;
    }
  });
}

export async function startFakePostgres(behaviour: FakeBehaviour): Promise<FakePostgresServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serve(socket, behaviour);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}
