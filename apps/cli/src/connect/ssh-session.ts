import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type PseudoTtyOptions } from 'ssh2';
import { EXIT_SSH_FAILURE } from '../cli.errors';
import type { ProcessStreams } from '../commands/io';
import type { Credentials } from './credentials';

/** How long the SSH handshake and login may take once the tunnel is open (a VM's sshd may be slow to start). */
const READY_TIMEOUT_MS = 60_000;

/**
 * Logs in over `sock`, a tunnel to the VM's port 22. Password authentication, with keyboard-interactive answered with
 * the same password for servers that offer only that. Rejects with the SSH library's error.
 */
export function sshConnect(sock: Duplex, login: Credentials): Promise<Client> {
  const client = new Client();
  return new Promise((resolve, reject) => {
    let settled = false;
    // Stays attached: ssh2 may emit more than one error (a failed write, then the lost connection), and an 'error'
    // without a listener would crash the process. Errors after login are the session's business (runSshSession).
    client.on('error', (err: Error) => fail(err));
    client.once('close', () => fail(new Error('the connection closed during the SSH handshake')));
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
      finish(prompts.map(() => login.password));
    });
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    function fail(err: Error): void {
      if (!settled) {
        settled = true;
        client.destroy();
        reject(err);
      }
    }
    client.connect({
      sock,
      username: login.username,
      password: login.password,
      tryKeyboard: true,
      readyTimeout: READY_TIMEOUT_MS,
      // Any host key is accepted: the tunnel itself is authenticated (the controller checked our credentials and
      // connects this WebSocket only to this VM's port 22, through the VM's worker), and there is no known key to
      // compare with anyway: VMs come and go under reused names. Orchard does the same.
      hostVerifier: () => true,
    });
  });
}

export interface SshSessionOptions {
  /** The remote command, words joined with spaces as ssh does; empty: the login shell. */
  command: string;
  /** Ask for a PTY even with a command or without a terminal (ssh's -t). */
  forcePty: boolean;
  /** TERM to announce with the PTY. */
  term: string;
  streams: ProcessStreams;
}

/** How a session ended: the exit code to exit with, and why it is 255 when the remote end said nothing. */
export interface SessionOutcome {
  exitCode: number;
  /** Set when no exit status came: the connection broke or the server closed the channel without one. */
  problem?: string;
}

/**
 * Runs one command (or the login shell) on a logged-in client with the local streams attached: stdin to the remote
 * stdin (its end sends EOF), remote stdout and stderr to ours. Without a command on a terminal, or with
 * `forcePty`, a PTY is requested with our terminal's size and kept in sync with it, and our terminal is raw for the
 * session (Ctrl-C and the like go to the remote side); it is restored before this returns.
 */
export async function runSshSession(client: Client, options: SshSessionOptions): Promise<SessionOutcome> {
  const { stdin, stdout, stderr } = options.streams;
  let connectionError: Error | undefined;
  client.on('error', (err: Error) => (connectionError ??= err));
  const interactive = options.command === '' && Boolean(stdin.isTTY);
  const pty: PseudoTtyOptions | false =
    options.forcePty || interactive
      ? { term: options.term, rows: stdout.rows || 24, cols: stdout.columns || 80 }
      : false;
  const channel = await openChannel(client, options.command, pty);
  const raw = pty !== false && Boolean(stdin.isTTY) && typeof stdin.setRawMode === 'function';
  const onResize = () => channel.setWindow(stdout.rows || 24, stdout.columns || 80, 0, 0);
  let exit: { code: number | null; signal?: string } | undefined;
  channel.once('exit', (code: number | null, signal?: string) => (exit = { code, signal }));
  const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
  const stderrDone = new Promise<void>((resolve) => {
    channel.stderr.once('end', resolve);
    channel.stderr.once('close', resolve);
  });
  try {
    if (raw) {
      stdin.setRawMode?.(true);
    }
    if (pty !== false) {
      stdout.on('resize', onResize);
    }
    channel.pipe(stdout, { end: false });
    channel.stderr.pipe(stderr, { end: false });
    stdin.pipe(channel);
    await closed;
    await stderrDone;
  } finally {
    stdin.unpipe(channel);
    stdin.pause();
    stdout.off('resize', onResize);
    if (raw) {
      stdin.setRawMode?.(false);
    }
  }
  if (exit === undefined) {
    return {
      exitCode: EXIT_SSH_FAILURE,
      problem: connectionError
        ? `the SSH connection broke: ${connectionError.message}`
        : 'the remote side closed the session without an exit status',
    };
  }
  return { exitCode: exitCodeOf(exit.code, exit.signal) };
}

function openChannel(client: Client, command: string, pty: PseudoTtyOptions | false): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const callback = (err: Error | undefined, channel: ClientChannel) => (err ? reject(err) : resolve(channel));
    if (command === '') {
      client.shell(pty, callback);
    } else {
      client.exec(command, { pty }, callback);
    }
  });
}

/**
 * The exit code for a remote exit status, or 128 + the signal's number when a signal ended the command (the shell's
 * convention; OpenSSH's client exits 255 then, which hides what happened).
 */
export function exitCodeOf(code: number | null | undefined, signal?: string): number {
  if (typeof code === 'number') {
    return code & 0xff;
  }
  const name = signal?.replace(/^SIG/, '');
  const number = name ? (constants.signals as Record<string, number | undefined>)[`SIG${name}`] : undefined;
  return number === undefined ? EXIT_SSH_FAILURE : 128 + number;
}
