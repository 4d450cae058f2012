import type { Client, ClientChannel } from 'ssh2';
import { commandLine, signalExitCode, withOptions } from './exec-command';
import { ExecStartError, terminalSize, type ExecHandle, type ExecRequest, type ExecSink } from './exec-process';
import { SshSessionError, type SshConnections, type SshSessionLease } from './ssh-connections';

/**
 * Runs commands over SSH with the VM's login, for images without the guest agent: Orchard's exec (orchard.md §1.5) on
 * the worker. The argv becomes one command line, quoted so that the remote shell gets it back word for word, with
 * Orchard's `cd`/`export` prefix for the workdir and environment; a tty asks for an `xterm-256color` PTY.
 */
export class SshExecutor {
  constructor(private readonly connections: SshConnections) {}

  /** Starts `request`; resolves once the command runs, rejects with an {@link ExecStartError} when it cannot. */
  async start(request: ExecRequest, sink: ExecSink, signal: AbortSignal): Promise<ExecHandle> {
    const login = { username: request.username || 'admin', password: request.password || 'admin' };
    const command = withOptions(commandLine(request.argv), request);
    let lease: SshSessionLease<RunningChannel>;
    try {
      lease = await this.connections.openSession(request.vmUid, login, signal, (client) =>
        openChannel(client, command, request),
      );
    } catch (err) {
      const message =
        err instanceof SshSessionError
          ? `failed to start the command over SSH: ${err.message}`
          : (err as Error).message;
      throw new ExecStartError(message, { cause: err });
    }
    const { channel: running, release } = lease;
    if (signal.aborted) {
      const { channel } = running;
      // The session's slot on the connection is free once the channel has closed, which ssh2 reports only after its
      // output has been read.
      channel.once('close', release);
      channel.resume();
      channel.stderr.resume();
      channel.close();
      throw new ExecStartError('the exec session was cancelled');
    }
    return run(running, request, sink, release);
  }
}

/** A session channel whose command runs, and its exit status once the server has sent it. */
interface RunningChannel {
  channel: ClientChannel;
  exit: { code?: number };
}

function openChannel(client: Client, command: string, request: ExecRequest): Promise<RunningChannel> {
  return new Promise((resolve, reject) => {
    const pty = request.tty ? { term: 'xterm-256color', ...terminalSize(request), width: 0, height: 0 } : undefined;
    try {
      client.exec(command, pty ? { pty } : {}, (err, channel) => {
        if (err) {
          reject(err);
          return;
        }
        // Listened for at once: ssh2 may emit it in the same read as the exec reply, before `run` gets the channel,
        // and an event without a listener is lost (output waits in the stream's buffer, the exit status does not).
        const exit: RunningChannel['exit'] = {};
        channel.once('exit', (code: number | null, signal?: string) => {
          exit.code = code ?? signalExitCode(signal ?? '');
        });
        resolve({ channel, exit });
      });
    } catch (err) {
      // ssh2 throws when the connection is no longer usable.
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

function run({ channel, exit }: RunningChannel, request: ExecRequest, sink: ExecSink, release: () => void): ExecHandle {
  const interactive = request.interactive || request.tty;
  let closed = false;
  let stderrEnded = false;
  let ended = false;
  const finish = () => {
    if (ended || !closed || !stderrEnded) {
      return;
    }
    ended = true;
    release();
    sink.end(exit.code === undefined ? { error: 'the SSH session ended without an exit status' } : { code: exit.code });
  };
  const forward = (stream: 'stdout' | 'stderr') => (data: Buffer) => {
    if (!sink.output(stream, data)) {
      channel.pause();
      channel.stderr.pause();
      sink.onDrain(() => {
        channel.resume();
        channel.stderr.resume();
      });
    }
  };

  sink.started('ssh');
  channel.on('data', forward('stdout'));
  channel.stderr.on('data', forward('stderr'));
  channel.stderr.on('end', () => {
    stderrEnded = true;
    finish();
  });
  // ssh2 emits 'close' after stdout's end; stderr may end a moment later.
  channel.on('close', () => {
    closed = true;
    if (channel.stderr.readableEnded || channel.stderr.destroyed) {
      stderrEnded = true;
    }
    finish();
  });
  channel.on('error', () => undefined);
  if (!interactive) {
    // Orchard gives a command that is not interactive no stdin: it reads end of file at once.
    channel.end();
  }

  return {
    input: (data) => (interactive && channel.writable ? channel.write(data) : true),
    onInputDrain: (resume) => channel.once('drain', resume),
    endInput: () => {
      if (interactive) {
        channel.end();
      }
    },
    resize: (rows, cols) => {
      if (request.tty && !closed) {
        channel.setWindow(rows, cols, 0, 0);
      }
    },
    kill: () => {
      if (!closed) {
        channel.signal('KILL');
        channel.close();
      }
    },
  };
}
