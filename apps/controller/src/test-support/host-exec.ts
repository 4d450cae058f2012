import { spawn } from 'node:child_process';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { TunnelFrame } from '@grove/proto';

/** The `execStart` frame of an exec session's tunnel. */
export type ExecStartFrame = Extract<TunnelFrame, { kind: 'execStart' }>;

type TunnelCall = ClientDuplexStream<TunnelFrame, TunnelFrame | undefined>;

/**
 * The worker's end of an exec session, with the host standing in for the VM: runs `start.argv` as a child process of
 * the test (no shell of its own; the controller's `/bin/sh -c` is in the argv), with the session's env and workdir,
 * and speaks the tunnel's exec frames as a worker does: `execStarted`, then `stdout`/`stderr` (read no faster than the
 * tunnel takes them), then `exit`; `stdin` frames feed an interactive command (empty: end of file), an `error` frame
 * from the controller kills it. A command that cannot start ends the session with an `error` frame, as a worker whose
 * VM cannot run it. No pseudo-terminals: a `tty` session is refused that way.
 */
export function serveExecOnHost(call: TunnelCall, start: ExecStartFrame): void {
  let finished = false;
  const finish = (last: TunnelFrame) => {
    if (!finished) {
      finished = true;
      call.write(last);
      call.end();
    }
  };
  if (start.tty) {
    finish({ kind: 'error', message: 'the fake worker has no pseudo-terminals' });
    return;
  }
  const child = spawn(start.argv[0] ?? '', start.argv.slice(1), {
    cwd: start.workdir || undefined,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...start.env },
    stdio: [start.interactive ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  child.once('error', (err) => finish({ kind: 'error', message: `cannot run ${start.argv[0]}: ${err.message}` }));
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  };
  // A command that exits without reading its stdin makes a later write fail with EPIPE: not the session's error.
  child.stdin?.on('error', () => undefined);
  call.on('data', (frame: TunnelFrame | undefined) => {
    if (frame?.kind === 'stdin') {
      if (frame.data.length === 0) {
        child.stdin?.end();
      } else {
        child.stdin?.write(frame.data);
      }
    } else if (frame?.kind === 'error') {
      finished = true;
      stop();
      call.end();
    }
  });
  // The controller gone (or done with the session): the command does not outlive it.
  call.once('end', stop);
  call.once('error', stop);
  if (child.pid === undefined) {
    // Spawning failed: the 'error' event follows and ends the session.
    return;
  }
  call.write({ kind: 'execStarted', via: 'agent' });
  for (const stream of ['stdout', 'stderr'] as const) {
    const pipe = child[stream]!; // a pipe: stdio above
    pipe.on('data', (data: Buffer) => {
      if (!finished && !call.write({ kind: stream, data })) {
        pipe.pause();
        call.once('drain', () => pipe.resume());
      }
    });
  }
  // 'close' comes after the last output: the exit status is the session's last frame.
  child.once('close', (code, signal) =>
    finish(code !== null ? { kind: 'exit', code } : { kind: 'error', message: `the command was killed by ${signal}` }),
  );
}
