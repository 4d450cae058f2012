import { closeWebSocket } from '@grove/client';
import { ExecOutputOrder, type ExecFrame, type ExecOutputFrame, type ExecSessionParams } from '@grove/resources';
import type { Writable } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { describeError } from '../cli.errors';
import type { ProcessStreams } from '../commands/io';
import { DetachKeys } from './detach-keys';
import type { LocalTerminal } from './terminal';

/** Exit code when the command's end is unknown: the controller sent an `error` frame or the connection was lost. */
export const EXIT_EXEC_FAILURE = 255;
/** Exit code after Ctrl-C or SIGTERM (the shell's 128 + SIGINT), whether the command was stopped or detached from. */
export const EXIT_INTERRUPTED = 130;

/** Pause reading stdin while this much is queued on the WebSocket; read again below the low mark. */
const STDIN_HIGH_WATER = 1024 * 1024;
const STDIN_LOW_WATER = 256 * 1024;
/** At most this many stdin bytes per frame: base64 makes 64 KiB, well below any frame size limit. */
const STDIN_FRAME_BYTES = 48 * 1024;
/** Acks are coalesced: one per this many milliseconds at most. */
const ACK_DELAY_MS = 20;
/** Delays before the reconnect attempts of a session whose WebSocket dropped (then the CLI gives up). */
export const RECONNECT_DELAYS_MS: readonly number[] = [100, 500, 1000, 2000, 4000];

/** What to run (or attach to), resolved from the command line. */
export interface ExecPlan {
  vm: string;
  /** The shell command line; absent: attach to the existing `session`. */
  command?: string;
  /** The words `command` was made of (for the hint after a one-word command line that was not found). */
  argv?: readonly string[];
  /** Reconnectable session id (`--session`). */
  session?: string;
  /** `-i`: stream standard input. */
  stdin: boolean;
  /** `-t`: run on a pseudo-terminal. */
  tty: boolean;
  env: Record<string, string>;
  workdir?: string;
  /** Seconds the controller may wait for the VM to run and the command to start. */
  wait: number;
}

/** Everything the runner touches besides the plan, injected so that tests drive it without a process or a TTY. */
export interface ExecDeps {
  /** Opens the exec WebSocket (paused, as `client.vms.exec` returns it); rejects with the handshake's error. */
  open(params: ExecSessionParams, signal: AbortSignal): Promise<WebSocket>;
  streams: ProcessStreams;
  terminal: LocalTerminal;
  /** Ctrl-C / SIGTERM subscription; returns the unsubscribe function. */
  onInterrupt(listener: () => void): () => void;
  /** Prints one line for the user on stderr (the newline is added). */
  say(line: string): void;
  /** The command line that reattaches to the session, for the message after a detach. */
  reattachHint?: string;
  reconnectDelaysMs?: readonly number[];
}

/** How one WebSocket connection ended. */
type ConnectionEnd =
  | { kind: 'exit'; code: number }
  | { kind: 'error'; message: string }
  | { kind: 'detached' }
  | { kind: 'interrupted' }
  | { kind: 'lost'; reason: string; progressed: boolean };

/**
 * Runs `plan` and returns the exit code. Throws only when the first WebSocket cannot be opened (the handshake's
 * `ApiError`, a connection error); everything after that is reported through `deps.say` and the exit code.
 */
export function runExec(plan: ExecPlan, deps: ExecDeps): Promise<number> {
  return new ExecRun(plan, deps).run();
}

/**
 * One `grove exec`: relays frames between a WebSocket and the local streams. In session mode (`--session`) it keeps
 * the highest watermark written so far, asks for `history` from there on every connection, skips frames it has
 * already written, acknowledges written frames, and reconnects when the WebSocket drops before the command's end.
 */
class ExecRun {
  private readonly session: boolean;
  private ws: WebSocket | undefined;
  private endConnection: ((end: ConnectionEnd) => void) | undefined;
  /** Output in watermark order, each frame once; its `delivered` is the highest watermark handed to the streams. */
  private readonly output = new ExecOutputOrder({
    // (false once the command's end was seen)
    accepting: () => this.endConnection !== undefined,
    deliver: (frame) => this.deliver(frame),
  });
  /** Highest watermark whose bytes the local stream has taken; what `ack` reports. */
  private written = 0;
  private acked = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private progressed = false;
  private failedAttempts = 0;
  private connections = 0;
  /** Local streams that asked us to wait (`write()` returned false); the WebSocket is paused while any does. */
  private readonly blocked = new Set<Writable>();
  private writesInFlight = 0;
  private flushed: (() => void) | undefined;
  private readonly pendingStdin: Buffer[] = [];
  private stdinEnded = false;
  private eofSent = false;
  private stdinBlocked = false;
  private detachKeys: DetachKeys | undefined;
  private interrupted = false;
  private wakeUp: (() => void) | undefined;
  private opening: AbortController | undefined;

  constructor(
    private readonly plan: ExecPlan,
    private readonly deps: ExecDeps,
  ) {
    this.session = plan.session !== undefined;
  }

  async run(): Promise<number> {
    const stopInterrupts = this.deps.onInterrupt(() => {
      // A second Ctrl-C gets the default behaviour again (the process ends at once).
      stopInterrupts();
      this.interrupt();
    });
    let raw = false;
    const restore = () => this.deps.terminal.setRaw(false);
    let stopResize = () => {};
    try {
      let ws = await this.open(this.firstParams()).catch((err: unknown) => {
        if (this.interrupted) {
          return undefined;
        }
        throw err;
      });
      if (ws === undefined) {
        return EXIT_INTERRUPTED;
      }
      // Raw mode only when stdin is read: otherwise Ctrl-C would reach nobody (docker exec -t without -i does the same).
      if (this.plan.tty && this.plan.stdin && this.deps.terminal.canRaw) {
        this.deps.terminal.setRaw(true);
        raw = true;
        process.once('exit', restore);
        if (this.session) {
          this.detachKeys = new DetachKeys();
        }
      }
      if (this.plan.tty) {
        stopResize = this.deps.terminal.onResize(() => this.sendResize());
      }
      this.startStdin();
      for (;;) {
        const end = await this.connection(ws);
        const next = await this.after(end);
        if (typeof next === 'number') {
          return next;
        }
        ws = next;
      }
    } finally {
      stopInterrupts();
      stopResize();
      this.stopStdin();
      clearTimeout(this.ackTimer);
      if (raw) {
        restore();
        process.off('exit', restore);
      }
    }
  }

  /** What to do when a connection has ended: an exit code, or the WebSocket of a reconnection. */
  private async after(end: ConnectionEnd): Promise<number | WebSocket> {
    const ws = this.ws;
    this.ws = undefined;
    switch (end.kind) {
      case 'exit':
        await this.flush();
        if (this.session) {
          // Everything is written: the session has served its purpose, and removing it lets the same command
          // line with the same --session run the command again instead of replaying this run.
          this.send(ws, { type: 'close' });
        }
        await closed(ws);
        this.singleWordHint(end.code);
        return end.code & 0xff;
      case 'error':
        await this.flush();
        if (this.session) {
          this.send(ws, { type: 'close' }); // the command's end is final too, as after an exit
        }
        await closed(ws);
        this.deps.say(`Error: ${end.message}`);
        return EXIT_EXEC_FAILURE;
      case 'detached':
        await this.flush();
        await closed(ws);
        this.sayDetached();
        return EXIT_INTERRUPTED;
      case 'interrupted':
        await closed(ws);
        return EXIT_INTERRUPTED;
      case 'lost':
        await this.flush();
        if (!this.session) {
          this.deps.say(
            `Error: the connection to the controller ended before the command did (${end.reason}); without ` +
              '--session the controller stops the command when its connection ends',
          );
          return EXIT_EXEC_FAILURE;
        }
        if (/session is closed/i.test(end.reason)) {
          this.deps.say(`Error: exec session "${this.plan.session}" is closed`);
          return EXIT_EXEC_FAILURE;
        }
        return this.reconnect(end.reason, end.progressed);
    }
  }

  /** Attaches again after a drop, a few times with growing delays; the command keeps running meanwhile. */
  private async reconnect(firstReason: string, progressed: boolean): Promise<number | WebSocket> {
    const delays = this.deps.reconnectDelaysMs ?? RECONNECT_DELAYS_MS;
    let reason = firstReason;
    // Attempts count until a connection gets a frame: one that is accepted and dropped at once is no progress.
    if (progressed) {
      this.failedAttempts = 0;
    }
    while (this.failedAttempts < delays.length) {
      const attempt = ++this.failedAttempts;
      this.deps.say(
        `grove: lost the connection to exec session "${this.plan.session}" (${reason}); ` +
          `reconnecting (${attempt}/${delays.length})`,
      );
      await this.sleep(delays[attempt - 1]);
      if (this.interrupted) {
        this.sayDetached();
        return EXIT_INTERRUPTED;
      }
      try {
        // Without the command: should the controller have lost the session, it must not run the command again.
        return await this.open({ session: this.plan.session, wait: this.plan.wait });
      } catch (err) {
        if (this.interrupted) {
          this.sayDetached();
          return EXIT_INTERRUPTED;
        }
        const status = statusOf(err);
        if (status !== undefined && status >= 400 && status < 500 && status !== 408) {
          this.deps.say(`Error: cannot reattach to exec session "${this.plan.session}": ${describeError(err)}`);
          return EXIT_EXEC_FAILURE;
        }
        reason = describeError(err);
      }
    }
    this.deps.say(`Error: gave up reconnecting to exec session "${this.plan.session}" (${reason})`);
    this.sayReattach();
    return EXIT_EXEC_FAILURE;
  }

  private firstParams(): ExecSessionParams {
    const { plan } = this;
    if (plan.command === undefined) {
      return { session: plan.session, wait: plan.wait };
    }
    const size = plan.tty ? this.deps.terminal.size() : undefined;
    return {
      command: plan.command,
      session: plan.session,
      interactive: plan.stdin ? true : undefined,
      tty: plan.tty ? true : undefined,
      rows: size?.rows,
      cols: size?.cols,
      env: plan.env,
      workdir: plan.workdir,
      wait: plan.wait,
    };
  }

  private async open(params: ExecSessionParams): Promise<WebSocket> {
    const opening = new AbortController();
    this.opening = opening;
    try {
      return await this.deps.open(params, opening.signal);
    } finally {
      this.opening = undefined;
    }
  }

  /** Relays one WebSocket until it ends; resolves with how. */
  private connection(ws: WebSocket): Promise<ConnectionEnd> {
    return new Promise<ConnectionEnd>((resolve) => {
      let socketError: string | undefined;
      this.ws = ws;
      this.connections++;
      this.progressed = false;
      this.stdinBlocked = false;
      this.endConnection = (end) => {
        this.endConnection = undefined;
        ws.removeAllListeners('message');
        resolve(end);
      };
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (!isBinary) {
          this.onMessage(data);
        }
      });
      ws.on('error', (err: Error) => (socketError ??= err.message));
      ws.once('close', (code: number, reason: Buffer) =>
        this.endConnection?.({
          kind: 'lost',
          reason: socketError ?? describeClose(code, reason.toString('utf8')),
          progressed: this.progressed,
        }),
      );
      if (this.blocked.size === 0) {
        ws.resume();
      }
      if (this.session) {
        this.output.startReplay();
        this.send(ws, { type: 'history', watermark: this.output.delivered });
      }
      if (this.plan.tty && (this.plan.command === undefined || this.connections > 1)) {
        // Attaching to a running PTY: it has the size of whichever terminal started it.
        this.sendResize();
      }
      this.flushStdin();
      if (this.interrupted) {
        this.interrupt();
      }
    });
  }

  private onMessage(data: RawData): void {
    let frame: ExecFrame;
    try {
      frame = JSON.parse(textOf(data)) as ExecFrame;
    } catch {
      return; // not a frame of this protocol; the controller never sends one
    }
    this.progressed = true;
    // Without a session there is no replay: output is written as it comes.
    this.output.take(frame, this.session);
  }

  /** An output frame, in order and once. */
  private deliver(frame: ExecOutputFrame): void {
    if (this.endConnection === undefined) {
      return; // (ExecOutputOrder asks first; this keeps the type checker sure)
    }
    const wm = frame.watermark;
    switch (frame.type) {
      case 'stdout':
        this.write(this.deps.streams.stdout, frame.data, wm);
        break;
      case 'stderr':
        this.write(this.deps.streams.stderr, frame.data, wm);
        break;
      case 'exit':
        this.endConnection({ kind: 'exit', code: frame.exit?.code ?? 0 });
        break;
      case 'error':
        this.endConnection({ kind: 'error', message: frame.error || 'the controller reported an unknown error' });
        break;
    }
  }

  private write(stream: Writable, data: string | undefined, wm: number | undefined): void {
    const bytes = Buffer.from(data ?? '', 'base64');
    this.writesInFlight++;
    const ok = stream.write(bytes, () => {
      this.writesInFlight--;
      if (wm !== undefined) {
        this.written = Math.max(this.written, wm);
        this.scheduleAck();
      }
      if (this.writesInFlight === 0) {
        this.flushed?.();
      }
    });
    if (!ok && !this.blocked.has(stream)) {
      // The local reader is slower than the command: stop reading the WebSocket, so TCP pushes back.
      this.blocked.add(stream);
      this.ws?.pause();
      stream.once('drain', () => {
        this.blocked.delete(stream);
        if (this.blocked.size === 0) {
          this.ws?.resume();
        }
      });
    }
  }

  private flush(): Promise<void> {
    if (this.writesInFlight === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.flushed = () => {
        this.flushed = undefined;
        resolve();
      };
    });
  }

  private scheduleAck(): void {
    if (!this.session || this.ackTimer !== undefined) {
      return;
    }
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (this.written > this.acked && this.send(this.ws, { type: 'ack', watermark: this.written })) {
        this.acked = this.written;
      }
    }, ACK_DELAY_MS);
  }

  private sendResize(): void {
    this.send(this.ws, { type: 'resize', terminal: this.deps.terminal.size() });
  }

  /** Sends a frame if the WebSocket is open; returns whether it was. */
  private send(ws: WebSocket | undefined, frame: ExecFrame, sent?: () => void): boolean {
    if (ws === undefined || ws.readyState !== ws.OPEN) {
      return false;
    }
    ws.send(JSON.stringify(frame), () => sent?.());
    return true;
  }

  private readonly onStdinData = (chunk: Buffer): void => {
    const bytes = this.detachKeys ? this.detachKeys.filter(chunk) : chunk;
    if (bytes.length > 0) {
      this.pendingStdin.push(bytes);
      this.flushStdin();
    }
    if (this.detachKeys?.detached) {
      this.detachKeys = undefined;
      this.interrupt();
    }
  };

  private readonly onStdinEnd = (): void => {
    this.stdinEnded = true;
    this.flushStdin();
  };

  private startStdin(): void {
    if (!this.plan.stdin) {
      return;
    }
    const { stdin } = this.deps.streams;
    stdin.on('data', this.onStdinData);
    stdin.once('end', this.onStdinEnd);
    // A read error (EIO from a terminal that went away) ends the input like EOF instead of crashing the CLI.
    stdin.on('error', this.onStdinEnd);
    stdin.resume();
  }

  private stopStdin(): void {
    if (!this.plan.stdin) {
      return;
    }
    const { stdin } = this.deps.streams;
    stdin.off('data', this.onStdinData);
    stdin.off('end', this.onStdinEnd);
    stdin.off('error', this.onStdinEnd);
    stdin.pause();
  }

  /**
   * Sends what stdin gave, then its end once. While no WebSocket is open (between reconnects) stdin is paused and its
   * bytes wait here; while the WebSocket has too much queued, stdin is paused until the queue drains.
   */
  private flushStdin(): void {
    const ws = this.ws;
    if (!this.plan.stdin || ws === undefined || ws.readyState !== ws.OPEN || this.endConnection === undefined) {
      if (this.pendingStdin.length > 0) {
        this.deps.streams.stdin.pause();
      }
      return;
    }
    for (let chunk = this.pendingStdin.shift(); chunk; chunk = this.pendingStdin.shift()) {
      for (let offset = 0; offset < chunk.length; offset += STDIN_FRAME_BYTES) {
        const data = chunk.subarray(offset, offset + STDIN_FRAME_BYTES).toString('base64');
        this.send(ws, { type: 'stdin', data }, () => this.stdinSent(ws));
      }
    }
    if (this.stdinEnded && !this.eofSent) {
      this.eofSent = true;
      this.send(ws, { type: 'stdin', data: '' });
    }
    if (ws.bufferedAmount > STDIN_HIGH_WATER) {
      this.stdinBlocked = true;
      this.deps.streams.stdin.pause();
    } else if (!this.stdinBlocked && !this.stdinEnded) {
      this.deps.streams.stdin.resume();
    }
  }

  private stdinSent(ws: WebSocket): void {
    if (this.stdinBlocked && ws.bufferedAmount < STDIN_LOW_WATER) {
      this.stdinBlocked = false;
      this.deps.streams.stdin.resume();
    }
  }

  /**
   * Ctrl-C or SIGTERM (or the detach keys): a session is detached from (it keeps running); without a session the
   * WebSocket is closed, and the controller stops the command.
   */
  private interrupt(): void {
    this.interrupted = true;
    this.opening?.abort();
    this.wakeUp?.();
    const ws = this.ws;
    if (this.endConnection === undefined || ws === undefined) {
      return; // between connections: run() and reconnect() look at `interrupted`
    }
    if (this.session) {
      // What was written is acknowledged first, so that reattaching shows only what this run did not.
      if (this.written > this.acked && this.send(ws, { type: 'ack', watermark: this.written })) {
        this.acked = this.written;
      }
      this.send(ws, { type: 'detach' });
      this.endConnection({ kind: 'detached' });
    } else {
      this.endConnection({ kind: 'interrupted' });
    }
  }

  /** Waits `ms`, or less when interrupted. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private sayDetached(): void {
    // At a terminal the line would follow the echoed ^C or the program's prompt.
    const lead = this.deps.terminal.canRaw ? '\n' : '';
    this.deps.say(`${lead}Detached from exec session "${this.plan.session}" on vm/${this.plan.vm}; it keeps running.`);
    this.sayReattach();
  }

  private sayReattach(): void {
    if (this.deps.reattachHint) {
      this.deps.say(`Reattach with: ${this.deps.reattachHint}`);
    }
  }

  /**
   * `grove exec vm v1 -- 'ls -l | wc -l'` runs a program named "ls -l | wc -l", which does not exist (the shell says
   * so, exit 127). That is almost always meant as a shell line: say how to write one.
   */
  private singleWordHint(code: number): void {
    const single = this.plan.argv?.length === 1 ? this.plan.argv[0] : undefined;
    if (code === 127 && single !== undefined && /\s/.test(single)) {
      this.deps.say(
        `Hint: "${single}" ran as one program name (grove exec takes a program and its arguments); ` +
          `for a shell command line use: sh -c '${single.replace(/'/g, `'\\''`)}'`,
      );
    }
  }
}

/** Closes a WebSocket and waits (a grace period at most, see closeWebSocket) for the close handshake. */
function closed(ws: WebSocket | undefined): Promise<void> {
  if (ws === undefined || ws.readyState === ws.CLOSED) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    closeWebSocket(ws, 1000);
  });
}

/** A text message's payload (`ws` gives a Buffer unless binaryType was changed). */
export function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) {
    return data.toString('utf8');
  }
  return Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
}

function describeClose(code: number, reason: string): string {
  if (code === 1006) {
    return 'the connection dropped';
  }
  return reason !== '' ? `closed with code ${code}: ${reason}` : `closed with code ${code}`;
}

function statusOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number') {
    return err.status;
  }
  return undefined;
}
