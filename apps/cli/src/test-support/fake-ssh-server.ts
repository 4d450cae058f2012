import { connect, type AddressInfo } from 'node:net';
import { Server, utils, type Connection, type ServerChannel } from 'ssh2';
import { createWebSocketStream, type WebSocket } from 'ws';

/** What the fake VM's sshd saw of one session. */
export interface SshSessionRecord {
  username: string;
  command?: string;
  pty?: { term?: string; rows: number; cols: number };
  windowChanges: { rows: number; cols: number }[];
}

/** An SSH server on 127.0.0.1 standing in for a VM's sshd (tests only). */
export interface FakeSshServer {
  port: number;
  sessions: SshSessionRecord[];
  close(): Promise<void>;
}

/**
 * Logins: `admin`/`admin` plus `extraLogin`. Commands: `echo hi` prints `hi`, `exit N` exits N, `kill` ends by SIGTERM,
 * `sh -s` and `cat` (and a shell) echo stdin back until EOF, `hang` never ends, `vanish` closes the channel without an exit status,
 * `stderr` writes `oops` to stderr; anything else exits 127 with `not found` on stderr.
 */
export async function startFakeSshServer(extraLogin?: { username: string; password: string }): Promise<FakeSshServer> {
  const hostKey = utils.generateKeyPairSync('ecdsa', { bits: 256 }).private;
  const sessions: SshSessionRecord[] = [];
  const connections = new Set<Connection>();
  const server = new Server({ hostKeys: [hostKey] }, (connection) => {
    connections.add(connection);
    connection.on('close', () => connections.delete(connection));
    connection.on('error', () => undefined);
    let username = '';
    connection.on('authentication', (ctx) => {
      const ok =
        ctx.method === 'password' &&
        ((ctx.username === 'admin' && ctx.password === 'admin') ||
          (extraLogin !== undefined && ctx.username === extraLogin.username && ctx.password === extraLogin.password));
      if (ok) {
        username = ctx.username;
        ctx.accept();
      } else {
        ctx.reject(['password']);
      }
    });
    connection.on('ready', () => {
      connection.on('session', (acceptSession) => {
        const record: SshSessionRecord = { username, windowChanges: [] };
        sessions.push(record);
        const session = acceptSession();
        session.on('pty', (accept, _reject, info) => {
          record.pty = { term: (info as { term?: string }).term, rows: info.rows, cols: info.cols };
          accept?.();
        });
        session.on('window-change', (accept, _reject, info) => {
          record.windowChanges.push({ rows: info.rows, cols: info.cols });
          accept?.();
        });
        session.on('exec', (accept, _reject, info) => {
          record.command = info.command;
          run(accept(), info.command);
        });
        session.on('shell', (accept) => run(accept(), 'cat'));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        connections.forEach((connection) => connection.end());
        server.close(() => resolve());
      }),
  };
}

function run(channel: ServerChannel, command: string): void {
  const exit = /^exit (\d+)$/.exec(command);
  if (command === 'echo hi') {
    channel.write('hi\n');
    channel.exit(0);
    channel.end();
  } else if (exit) {
    channel.exit(Number(exit[1]));
    channel.end();
  } else if (command === 'kill') {
    channel.exit('TERM', false, '');
    channel.end();
  } else if (command === 'sh -s' || command === 'cat') {
    channel.on('data', (data: Buffer) => channel.write(data));
    channel.once('end', () => {
      channel.exit(0);
      channel.end();
    });
  } else if (command === 'hang') {
    // Runs until the connection goes away.
  } else if (command === 'vanish') {
    channel.close();
  } else if (command === 'stderr') {
    channel.stderr.write('oops\n');
    channel.exit(1);
    channel.end();
  } else {
    channel.stderr.write(`${command}: not found\n`);
    channel.exit(127);
    channel.end();
  }
}

/** Connects a tunnel WebSocket to a TCP port on 127.0.0.1, as a worker does with the VM's port. */
export function bridgeTo(port: number): (ws: WebSocket) => void {
  return (ws) => {
    const socket = connect(port, '127.0.0.1');
    const stream = createWebSocketStream(ws);
    socket.on('error', () => ws.terminate());
    stream.on('error', () => socket.destroy());
    socket.pipe(stream).pipe(socket);
  };
}
