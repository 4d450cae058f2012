import { spawn, type ChildProcess } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Server, type Connection, type ServerChannel } from 'ssh2';

export interface VmSshServerOptions {
  /** Private host key (PEM). */
  hostKey: string;
  /** Logins accepted besides `admin`/`admin`. */
  credentials: { username: string; password: string };
  /** Where commands run (also their HOME). */
  cwd: string;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Orchard's default login and the VM's own. */
function acceptsLogin(options: VmSshServerOptions, username: string, password: string): boolean {
  const logins = [{ username: 'admin', password: 'admin' }, options.credentials];
  return logins.some((login) => sameText(login.username, username) && sameText(login.password, password));
}

/**
 * The command line for one SSH request. With a PTY, util-linux `script` gives the command a real pseudo-terminal
 * (Node has none without a native module) and `stty` sets its initial size; later window changes cannot reach it.
 */
export function shellCommand(
  command: string | undefined,
  pty: { rows: number; cols: number } | undefined,
): { file: string; args: string[] } {
  if (!pty) {
    return command === undefined ? { file: '/bin/sh', args: [] } : { file: '/bin/sh', args: ['-c', command] };
  }
  const inner = command === undefined ? 'exec /bin/sh -i' : command;
  const sized = `stty rows ${pty.rows} cols ${pty.cols} 2>/dev/null; ${inner}`;
  return { file: 'script', args: ['-qfec', `/bin/sh -c ${quote(sized)}`, '/dev/null'] };
}

function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * A synthetic VM's SSH server (VM port 22) on a loopback port: password logins, `exec` and `shell` sessions whose
 * commands run with /bin/sh on the worker host in the VM's scratch directory, `env` and `pty-req`, exit status and
 * exit signal. No port forwarding or subsystems.
 */
export class VmSshServer {
  private readonly server: Server;
  private readonly children = new Set<ChildProcess>();
  private readonly connections = new Set<Connection>();

  constructor(private readonly options: VmSshServerOptions) {
    this.server = new Server({ hostKeys: [options.hostKey] }, (connection) => this.accept(connection));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  close(): void {
    for (const child of this.children) {
      killGroup(child);
    }
    for (const connection of this.connections) {
      connection.end();
    }
    this.server.close();
  }

  private accept(connection: Connection): void {
    this.connections.add(connection);
    connection.on('close', () => this.connections.delete(connection));
    connection.on('error', () => undefined);
    connection.on('authentication', (ctx) => {
      if (ctx.method === 'password' && acceptsLogin(this.options, ctx.username, ctx.password)) {
        ctx.accept();
      } else {
        ctx.reject(['password']);
      }
    });
    connection.on('ready', () => {
      connection.on('session', (acceptSession) => {
        const session = acceptSession();
        const env: Record<string, string> = {};
        let pty: { rows: number; cols: number } | undefined;
        session.on('env', (accept, _reject, info) => {
          env[info.key] = info.val;
          accept?.();
        });
        session.on('pty', (accept, _reject, info) => {
          pty = { rows: info.rows || 24, cols: info.cols || 80 };
          accept?.();
        });
        session.on('window-change', (accept) => accept?.());
        session.on('exec', (accept, _reject, info) => this.run(accept(), info.command, env, pty));
        session.on('shell', (accept) => this.run(accept(), undefined, env, pty));
      });
    });
  }

  private run(
    channel: ServerChannel,
    command: string | undefined,
    env: Record<string, string>,
    pty: { rows: number; cols: number } | undefined,
  ): void {
    const { file, args } = shellCommand(command, pty);
    const child = spawn(file, args, {
      cwd: this.options.cwd,
      env: { ...process.env, ...env, HOME: this.options.cwd, ...(pty ? { TERM: env.TERM ?? 'xterm-256color' } : {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.children.add(child);
    child.stdin.on('error', () => undefined);
    channel.pipe(child.stdin);
    child.stdout.pipe(channel, { end: false });
    child.stderr.pipe(channel.stderr, { end: false });
    let done = false;
    channel.on('close', () => {
      if (!done) {
        killGroup(child);
      }
    });
    child.on('error', (err) => {
      done = true;
      this.children.delete(child);
      channel.stderr.write(`${err.message}\n`);
      channel.exit(127);
      channel.end();
    });
    child.on('close', (code, signal) => {
      done = true;
      this.children.delete(child);
      if (signal) {
        channel.exit(signal.replace(/^SIG/, ''), false, '');
      } else {
        channel.exit(code ?? 0);
      }
      channel.end();
    });
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
}
