import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { PtyResizer, shellCommand, type TerminalSize } from '@grove/proto';
import { Server, type Connection, type PseudoTtyInfo, type ServerChannel, type Session } from 'ssh2';

export interface VmSshServerOptions {
  /** The private host key (PEM), shared by all VMs of a runtime. */
  hostKey: string;
  /** The VM's login, accepted besides Orchard's default `admin`/`admin`. */
  credentials: { username: string; password: string };
  /** The VM's scratch directory: where commands run, and their HOME. */
  home: string;
  /**
   * Session channels one connection may have open at once; opening one more is refused, as sshd refuses it beyond
   * its `MaxSessions`. Default {@link SSHD_MAX_SESSIONS}, so that clients meet the limit of a real VM here too;
   * `Infinity` lifts it.
   */
  maxSessions?: number;
}

/** OpenSSH's default `MaxSessions`: session channels per connection (sshd_config(5)). */
export const SSHD_MAX_SESSIONS = 10;

/** What a {@link VmSshServer} has seen, for tests. */
export interface VmSshServerStats {
  /** Connections handed to it so far. */
  connections: number;
  /** Session channels open now, over all connections. */
  openSessions: number;
  /** Session channels refused so far because their connection had its `maxSessions` open. */
  refusedSessions: number;
}

/** Environment variables of the worker that a command in the "VM" inherits; everything else stays out. */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** One `exec` or `shell` request's process. */
interface Command {
  child: ChildProcessWithoutNullStreams;
  /** Set for PTY sessions: resizes the PTY `script` made. */
  pty?: PtyResizer;
  done: boolean;
}

/** What the requests of one session channel have set up before (and while) its command runs. */
interface SessionState {
  username: string;
  env: Record<string, string>;
  pty?: TerminalSize & { term: string };
  command?: Command;
}

/**
 * A synthetic VM's SSH server (VM port 22): the worker's startup scripts, `grove ssh` and port-forwarding tests talk
 * to it as to a VM's sshd. Password logins (`admin`/`admin` and the VM's credentials); per session `env`, `pty-req`,
 * `window-change`, `signal`, then one `exec` or `shell`, whose process runs **on the worker host** with /bin/sh in the
 * VM's scratch directory (also its HOME) with a small environment of its own. stdout and stderr stay apart, stdin is
 * forwarded with its EOF, the channel closes after `exit-status` (or `exit-signal`), and a channel the client closes
 * early kills the process group. Like sshd, a connection gets at most `maxSessions` (10) session channels open at once
 * and further opens are refused. No port forwarding, subsystems, agent or X11 forwarding.
 *
 * PTY limits (see libs/proto/src/pty.ts): the PTY comes from `script(1)`, so stdout and stderr arrive merged, as on any PTY; the
 * process sees the size asked for at start, and `window-change` resizes the PTY from outside with `stty` a few
 * milliseconds later (SIGWINCH included). `signal` requests reach a PTY session's `script` process, not its command:
 * send ^C through the terminal instead. A PTY session closed early kills `script`; its command then gets SIGHUP from the
 * hang-up (one that ignores SIGHUP survives).
 *
 * The class never listens itself: the runtime hands it connections accepted by the VM's port-22 listener.
 */
export class VmSshServer {
  private readonly server: Server;
  private readonly commands = new Set<Command>();
  /** Open sessions of each connection that has not closed. */
  private readonly sessionsOpen = new Map<Connection, number>();
  private connections = 0;
  private refusedSessions = 0;

  constructor(private readonly options: VmSshServerOptions) {
    this.server = new Server({ hostKeys: [options.hostKey] }, (connection) => this.accept(connection));
  }

  /** Serves SSH on a connection to the VM's port 22. */
  handle(socket: Socket): void {
    this.server.injectSocket(socket);
  }

  get stats(): VmSshServerStats {
    let openSessions = 0;
    this.sessionsOpen.forEach((open) => (openSessions += open));
    return { connections: this.connections, openSessions, refusedSessions: this.refusedSessions };
  }

  /** Kills every command still running (the connections themselves belong to the listener). */
  close(): void {
    for (const command of this.commands) {
      killGroup(command, 'SIGKILL');
    }
  }

  private accept(connection: Connection): void {
    let username = '';
    this.connections++;
    this.sessionsOpen.set(connection, 0);
    connection.on('close', () => this.sessionsOpen.delete(connection));
    connection.on('error', () => undefined);
    connection.on('authentication', (ctx) => {
      if (ctx.method === 'password' && this.acceptsLogin(ctx.username, ctx.password)) {
        username = ctx.username;
        ctx.accept();
      } else {
        ctx.reject(['password']);
      }
    });
    connection.on('ready', () => {
      connection.on('session', (acceptSession, rejectSession) => {
        const open = this.sessionsOpen.get(connection) ?? 0;
        if (open >= (this.options.maxSessions ?? SSHD_MAX_SESSIONS)) {
          // sshd answers "open failed" (administratively prohibited); ssh2's reject() says "connect failed". Either
          // way the client sees a channel open failure on a connection that stays up.
          this.refusedSessions++;
          rejectSession();
          return;
        }
        this.sessionsOpen.set(connection, open + 1);
        const session = acceptSession();
        // ssh2 emits 'close' on a session when the client closes its channel, which it does in answer to ours.
        session.once('close', () => {
          const now = this.sessionsOpen.get(connection);
          if (now !== undefined) {
            this.sessionsOpen.set(connection, now - 1);
          }
        });
        this.session(session, { username, env: {} });
      });
    });
  }

  private acceptsLogin(username: string, password: string): boolean {
    const logins = [{ username: 'admin', password: 'admin' }, this.options.credentials];
    // Every login is compared, so the time taken does not tell which one (nor how much of it) matched.
    return logins
      .map((login) => sameText(login.username, username) && sameText(login.password, password))
      .some(Boolean);
  }

  private session(session: Session, state: SessionState): void {
    session.on('env', (accept, _reject, info) => {
      state.env[info.key] = info.val;
      accept?.();
    });
    session.on('pty', (accept, _reject, info: PseudoTtyInfo & { term?: string }) => {
      // ssh2 passes the TERM value of the request, though its type declarations omit it.
      state.pty = { rows: info.rows || 24, cols: info.cols || 80, term: info.term || 'xterm-256color' };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      const size = { rows: info.rows || 24, cols: info.cols || 80 };
      if (state.pty) {
        Object.assign(state.pty, size);
      }
      state.command?.pty?.resize(size);
      accept?.();
    });
    session.on('signal', (accept, reject, info) => {
      const name = `SIG${info.name.replace(/^SIG/, '')}`;
      if (state.command && !state.command.done && name in constants.signals) {
        killGroup(state.command, name as NodeJS.Signals);
        accept?.();
      } else {
        reject?.();
      }
    });
    session.on('exec', (accept, _reject, info) => (state.command = this.run(accept(), info.command, state)));
    session.on('shell', (accept) => (state.command = this.run(accept(), undefined, state)));
  }

  private run(channel: ServerChannel, commandLine: string | undefined, state: SessionState): Command {
    const { home } = this.options;
    const { file, args } = shellCommand(commandLine, state.pty);
    const inherited = Object.fromEntries(
      INHERITED_ENV.flatMap((key) => (process.env[key] ? [[key, process.env[key]]] : [])),
    );
    const child = spawn(file, args, {
      cwd: home,
      env: {
        ...inherited,
        USER: state.username,
        LOGNAME: state.username,
        SHELL: '/bin/sh',
        ...(state.pty ? { TERM: state.pty.term } : {}),
        ...state.env,
        HOME: home,
      },
      stdio: 'pipe',
      // Its own process group, so that everything it started can be killed with it.
      detached: true,
    });
    const command: Command = { child, done: false };
    if (state.pty) {
      command.pty = new PtyResizer(
        () => child.pid,
        () => command.done,
      );
    }
    this.commands.add(command);
    let channelClosed = false;
    channel.on('close', () => {
      channelClosed = true;
      if (!command.done) {
        killGroup(command, 'SIGKILL');
      }
    });
    child.stdin.on('error', () => undefined); // the command may exit without reading its input
    forwardInput(channel, command);
    child.stdout.pipe(channel, { end: false });
    child.stderr.pipe(channel.stderr, { end: false });

    const finish = (exit: { code: number } | { signal: string }, message?: string): void => {
      if (command.done) {
        return;
      }
      command.done = true;
      this.commands.delete(command);
      if (channelClosed) {
        return;
      }
      if (message !== undefined) {
        channel.stderr.write(message);
      }
      // sshd sends the exit status after the output: wait until ssh2 has sent everything written so far.
      void Promise.all([flushed(channel, channel), flushed(channel.stderr, channel)]).then(() => {
        if ('code' in exit) {
          channel.exit(exit.code);
        } else {
          channel.exit(exit.signal.replace(/^SIG/, ''), false, '');
        }
        channel.end();
      });
    };
    child.on('error', (err) => finish({ code: 127 }, `${err.message}\n`));
    child.on('close', (code, signal) => finish(signal ? { signal } : { code: code ?? 0 }));
    return command;
  }
}

/**
 * Pipes the channel into the command's stdin. Input that arrives while a window change is being applied waits for it,
 * as with sshd, which resizes the terminal before it reads on: a command that reads a line and then asks for the
 * terminal size sees the new one.
 */
function forwardInput(channel: ServerChannel, command: Command): void {
  const { stdin } = command.child;
  let last: Promise<void> = Promise.resolve();
  const write = (data: Buffer) => {
    if (stdin.write(data)) {
      channel.resume();
    } else {
      stdin.once('drain', () => channel.resume());
    }
  };
  channel.on('data', (data: Buffer) => {
    channel.pause();
    const pty = command.pty;
    if (pty?.busy) {
      last = pty.idle.then(() => write(data));
    } else {
      write(data);
    }
  });
  channel.on('end', () => void last.then(() => stdin.end()));
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Resolves once everything written to `stream` so far went out, or the channel closed. */
function flushed(stream: Writable, channel: ServerChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.off('close', done);
      resolve();
    };
    channel.once('close', done);
    stream.write(Buffer.alloc(0), done);
  });
}

function killGroup(command: Command, signal: NodeJS.Signals): void {
  const { child } = command;
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
