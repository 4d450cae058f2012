import type { Client, ClientChannel } from 'ssh2';
import { commandLine, signalExitCode, withOptions } from './exec-command';
import { ExecStartError, terminalSize, type ExecHandle, type ExecRequest, type ExecSink } from './exec-process';
import type { SshConnections } from './ssh-connections';

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
    for (let attempt = 0; ; attempt++) {
      let connection: { client: Client; release: () => void };
      try {
        connection = await this.connections.acquire(request.vmUid, login, signal);
      } catch (err) {
        throw new ExecStartError((err as Error).message, { cause: err });
      }
      let channel: ClientChannel;
      try {
        channel = await openChannel(connection.client, command, request);
      } catch (err) {
        connection.release();
        // A connection that died since it was pooled is replaced once; other refusals are final.
        if (attempt === 0 && this.connections.isDead(connection.client)) {
          continue;
        }
        throw new ExecStartError(`failed to start the command over SSH: ${(err as Error).message}`, { cause: err });
      }
      if (signal.aborted) {
        channel.close();
        connection.release();
        throw new ExecStartError('the exec session was cancelled');
      }
      return run(channel, request, sink, connection.release);
    }
  }
}

function openChannel(client: Client, command: string, request: ExecRequest): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const pty = request.tty ? { term: 'xterm-256color', ...terminalSize(request), width: 0, height: 0 } : undefined;
    try {
      client.exec(command, pty ? { pty } : {}, (err, channel) => (err ? reject(err) : resolve(channel)));
    } catch (err) {
      // ssh2 throws when the connection is no longer usable.
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

function run(channel: ClientChannel, request: ExecRequest, sink: ExecSink, release: () => void): ExecHandle {
  const interactive = request.interactive || request.tty;
  let exitCode: number | undefined;
  let closed = false;
  let stderrEnded = false;
  let ended = false;
  const finish = () => {
    if (ended || !closed || !stderrEnded) {
      return;
    }
    ended = true;
    release();
    sink.end(exitCode === undefined ? { error: 'the SSH session ended without an exit status' } : { code: exitCode });
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
  channel.on('exit', (code: number | null, signal?: string) => {
    exitCode = code ?? signalExitCode(signal ?? '');
  });
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
