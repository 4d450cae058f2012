import type { ExecFrame } from '@grove/resources';
import type { ExecEnd, RemoteExec } from '../worker-sessions/remote-exec';
import { ExecDetachTimer } from './exec-detach-timer';

/** Output frames carry at most this many bytes of data (Orchard's chunk size). */
export const EXEC_CHUNK_BYTES = 4096;
/** Output kept for `history` requests of a reconnectable session; the oldest frames go first (Orchard: 4 MiB). */
export const REPLAY_BUFFER_BYTES = 4 * 1024 * 1024;
/** Live frames a subscriber of a reconnectable session may have unsent before it is dropped (Orchard: 128). */
export const SUBSCRIBER_QUEUE_FRAMES = 128;
/** A legacy session stops reading the command's output when this many frames wait for its socket… */
const LEGACY_PAUSE_FRAMES = 32;
/** …and reads on once no more than this many do. */
const LEGACY_RESUME_FRAMES = 8;

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY_VIOLATION = 1008;
/** Orchard's close reason once a legacy command ended, or a subscriber fell too far behind. */
export const COMMAND_FINISHED = 'Command finished';
/** Orchard's close reason for a socket of a session that is closed (or attaching to one). */
export const SESSION_CLOSED = 'exec session is closed';

/** The part of a RemoteExec that a session uses (tests substitute a fake). */
export interface ExecProcess extends Pick<
  RemoteExec,
  'writeStdin' | 'endStdin' | 'resize' | 'kill' | 'pause' | 'resume' | 'finished'
> {
  on(event: 'stdout' | 'stderr', listener: (data: Buffer) => void): unknown;
  once(event: 'end', listener: (end: ExecEnd) => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

/** One client connection of a session, as the session sees it (a WebSocket in production). */
export interface ExecSocket {
  /** Queues one text message; `done` runs once it has been handed to the network (or failed). */
  send(text: string, done: () => void): void;
  close(code: number, reason: string): void;
  /** Stops and restarts reading the client's messages (stdin back-pressure). */
  pause(): void;
  resume(): void;
}

export interface ExecSessionOptions {
  /** The id of a reconnectable session; absent for a legacy one (ended with its socket, no watermarks). */
  id?: string;
  interactive: boolean;
  tty: boolean;
  /** How long a finished reconnectable session stays for reattaching clients. */
  retentionMs: number;
  /** Reconnectable only: close the session once no socket has been attached for this long (`detachTimeout`). */
  detachTimeoutMs?: number;
  /** Called once when the session is closed (to forget it). */
  onClosed?: (session: ExecSession) => void;
}

interface ReplayEntry {
  frame: ExecFrame;
  watermark: number;
  size: number;
}

/** A client connection attached to a session. */
export class ExecSubscriber {
  /** Live frames handed to the socket and not yet written out. */
  inFlight = 0;
  gone = false;
  /** History up to this watermark has been sent (or was delivered live): never send it twice. */
  replayedUpTo = 0;

  constructor(
    readonly socket: ExecSocket,
    /** The first watermark this subscriber receives live. */
    readonly liveFrom: number,
  ) {}
}

/** A client frame that the session refuses; the socket gets an `error` frame with the text, then a close. */
export class ExecProtocolError extends Error {}

function isBase64(text: string): boolean {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
}

function watermarkOf(frame: Record<string, unknown>): number {
  const value = frame['watermark'] ?? 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ExecProtocolError('"watermark" must be a non-negative integer');
  }
  return value;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * One command run through the exec WebSocket API and the sockets attached to it (orchard.md §1.5). A legacy session
 * has one socket and lives as long as it: the command is killed when the socket ends, and the socket is closed with
 * 1000 "Command finished" once the command ended. A reconnectable session numbers its output frames from 1 (the
 * watermark), keeps the last 4 MiB of them for `history` requests, survives its sockets, and stays for a retention
 * time after the command ended.
 */
export class ExecSession {
  private nextWatermark = 1;
  private readonly replay: ReplayEntry[] = [];
  private replayBytes = 0;
  private readonly subscribers = new Set<ExecSubscriber>();
  private stdinClosed = false;
  private outcome: ExecEnd | undefined;
  private isClosed = false;
  private retention: NodeJS.Timeout | undefined;
  private pausedOutput = false;
  private attachedOnce = false;
  /** Frames published before the first socket attached (it is being upgraded): that socket gets them live. */
  private early: ExecFrame[] = [];
  private readonly detachTimer: ExecDetachTimer | undefined;

  constructor(
    readonly process: ExecProcess,
    private readonly options: ExecSessionOptions,
  ) {
    if (options.id !== undefined && options.detachTimeoutMs !== undefined) {
      this.detachTimer = new ExecDetachTimer(options.detachTimeoutMs, () => this.close());
      // No socket is attached yet: the creating one normally attaches at once; if it never does, the timer ends it.
      this.detachTimer.start();
    }
    process.on('stdout', (data: Buffer) => this.output('stdout', data));
    process.on('stderr', (data: Buffer) => this.output('stderr', data));
    process.once('end', (end: ExecEnd) => this.ended(end));
  }

  get id(): string | undefined {
    return this.options.id;
  }

  get reconnectable(): boolean {
    return this.options.id !== undefined;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** How the command ended, once it has. */
  get end(): ExecEnd | undefined {
    return this.outcome;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Frames held for `history` (for tests and diagnostics). */
  get replayed(): { frames: number; bytes: number; oldest: number } {
    return { frames: this.replay.length, bytes: this.replayBytes, oldest: this.replay[0]?.watermark ?? 0 };
  }

  /**
   * Attaches a client connection. A closed session accepts it only to close it with 1000 "exec session is closed"
   * (Orchard's answer), and returns undefined.
   */
  attach(socket: ExecSocket): ExecSubscriber | undefined {
    if (this.isClosed) {
      socket.close(CLOSE_NORMAL, SESSION_CLOSED);
      return undefined;
    }
    const first = !this.attachedOnce;
    this.attachedOnce = true;
    const early = this.early;
    this.early = [];
    const subscriber = new ExecSubscriber(socket, early[0]?.watermark ?? this.nextWatermark);
    this.subscribers.add(subscriber);
    this.detachTimer?.stop();
    for (const frame of early) {
      this.deliver(subscriber, frame);
    }
    if (first && !this.reconnectable && this.outcome) {
      this.finishLegacy();
    }
    return subscriber.gone ? undefined : subscriber;
  }

  /**
   * The client connection ended. A legacy session kills its command (Orchard's closeOnDetach); a reconnectable one
   * only forgets the subscriber.
   */
  detach(subscriber: ExecSubscriber): void {
    if (!this.subscribers.delete(subscriber)) {
      return;
    }
    subscriber.gone = true;
    this.maybeResumeOutput();
    if (this.subscribers.size === 0 && !this.isClosed) {
      this.detachTimer?.start();
    }
    if (!this.reconnectable && !this.isClosed) {
      this.isClosed = true;
      this.process.kill('the client closed the exec WebSocket');
      this.options.onClosed?.(this);
    }
  }

  /**
   * Handles one text message of a client. A message the protocol does not allow gets an `error` frame naming the
   * problem and the socket is closed with 1008 (Orchard drops the connection without a word).
   */
  receive(subscriber: ExecSubscriber, text: string): void {
    if (subscriber.gone) {
      return;
    }
    try {
      this.handle(subscriber, text);
    } catch (err) {
      const message = describe(err);
      this.sendDirect(subscriber, { type: 'error', error: message });
      this.drop(subscriber, CLOSE_POLICY_VIOLATION, message);
    }
  }

  /** Kills the command (if it still runs), closes every socket and forgets the session (the `close` frame). */
  close(code = CLOSE_NORMAL, reason = SESSION_CLOSED): void {
    if (this.isClosed) {
      return;
    }
    this.isClosed = true;
    clearTimeout(this.retention);
    this.detachTimer?.stop();
    if (!this.process.finished) {
      this.process.kill(code === CLOSE_GOING_AWAY ? reason : 'the exec session was closed');
    }
    for (const subscriber of [...this.subscribers]) {
      this.drop(subscriber, code, reason);
    }
    this.options.onClosed?.(this);
  }

  private handle(subscriber: ExecSubscriber, text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ExecProtocolError(`the frame is not valid JSON: ${describe(err)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ExecProtocolError('the frame must be a JSON object with a "type"');
    }
    const frame = parsed as Record<string, unknown>;
    const type = frame['type'];
    switch (type) {
      case 'stdin':
        this.stdin(subscriber, frame['data']);
        return;
      case 'resize':
        this.resize(frame['terminal']);
        return;
      case 'history':
      case 'ack':
      case 'detach':
      case 'close':
        if (!this.reconnectable) {
          throw new ExecProtocolError(
            `"${type}" frames need a reconnectable session (open the exec WebSocket with a "session" parameter)`,
          );
        }
        if (type === 'history') {
          this.history(subscriber, watermarkOf(frame));
        } else if (type === 'ack') {
          this.ack(watermarkOf(frame));
        } else if (type === 'detach') {
          this.drop(subscriber, CLOSE_NORMAL, 'detached');
        } else {
          this.close();
        }
        return;
      default:
        throw new ExecProtocolError(
          typeof type === 'string'
            ? `unknown frame type ${JSON.stringify(type)} (clients send stdin, resize, history, ack, detach or close)`
            : 'the frame has no "type"',
        );
    }
  }

  private stdin(subscriber: ExecSubscriber, data: unknown): void {
    if (!this.options.interactive) {
      throw new ExecProtocolError('stdin frames need an interactive session (open it with "interactive=true")');
    }
    if (data !== undefined && data !== null && typeof data !== 'string') {
      throw new ExecProtocolError('"data" of a stdin frame must be a base64 string');
    }
    if (this.stdinClosed) {
      throw new ExecProtocolError('stdin is already closed (an empty stdin frame ended it)');
    }
    if (!data) {
      this.stdinClosed = true;
      this.process.endStdin();
      return;
    }
    if (!isBase64(data)) {
      throw new ExecProtocolError('"data" of a stdin frame is not valid base64');
    }
    if (!this.process.writeStdin(Buffer.from(data, 'base64'))) {
      // The worker's window is full: stop reading this client until the command has taken its input.
      subscriber.socket.pause();
      this.process.once('drain', () => subscriber.socket.resume());
    }
  }

  private resize(terminal: unknown): void {
    if (!this.options.tty) {
      throw new ExecProtocolError('resize frames need a terminal (open the session with "tty=true")');
    }
    const t = terminal as { rows?: unknown; cols?: unknown } | undefined;
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
    if (typeof t !== 'object' || t === null || !ok(t.rows) || !ok(t.cols)) {
      throw new ExecProtocolError('a resize frame needs "terminal": {"rows": N, "cols": N} with N from 1 to 65535');
    }
    this.process.resize(t.rows, t.cols);
  }

  /**
   * Replays buffered frames above `watermark` that this subscriber has not received yet (frames it got live are not
   * sent twice), then `no_more_history` with the highest watermark assigned so far.
   */
  private history(subscriber: ExecSubscriber, watermark: number): void {
    const from = Math.max(watermark, subscriber.replayedUpTo);
    for (const entry of this.replay) {
      if (entry.watermark > from && entry.watermark < subscriber.liveFrom) {
        this.sendDirect(subscriber, entry.frame);
      }
    }
    subscriber.replayedUpTo = Math.max(subscriber.replayedUpTo, subscriber.liveFrom - 1);
    const highest = this.nextWatermark - 1;
    this.sendDirect(
      subscriber,
      highest > 0 ? { type: 'no_more_history', watermark: highest } : { type: 'no_more_history' },
    );
  }

  /** The client has everything up to `watermark`: those frames need not be kept. */
  private ack(watermark: number): void {
    while (this.replay.length > 0 && this.replay[0].watermark <= watermark) {
      this.replayBytes -= this.replay.shift()!.size;
    }
  }

  private output(type: 'stdout' | 'stderr', data: Buffer): void {
    for (let at = 0; at < data.length; at += EXEC_CHUNK_BYTES) {
      const chunk = data.subarray(at, at + EXEC_CHUNK_BYTES);
      this.publish({ type, data: chunk.toString('base64') }, chunk.length);
    }
  }

  private ended(end: ExecEnd): void {
    this.outcome = end;
    if (this.isClosed) {
      return;
    }
    const frame: ExecFrame =
      'exitCode' in end ? { type: 'exit', exit: { code: end.exitCode } } : { type: 'error', error: end.error };
    this.publish(frame, 'error' in end ? Buffer.byteLength(end.error) : 0);
    if (!this.reconnectable) {
      if (this.attachedOnce) {
        this.finishLegacy();
      }
      return;
    }
    // Orchard leaves the sockets of a reconnectable session open after the exit; clients detach or close.
    this.retention = setTimeout(() => this.close(), this.options.retentionMs);
    this.retention.unref();
  }

  /** A legacy session's command ended: its socket is closed with Orchard's 1000 "Command finished". */
  private finishLegacy(): void {
    this.isClosed = true;
    for (const subscriber of [...this.subscribers]) {
      this.drop(subscriber, CLOSE_NORMAL, COMMAND_FINISHED);
    }
    this.options.onClosed?.(this);
  }

  /** Numbers (reconnectable sessions), keeps and sends one output frame to every subscriber. */
  private publish(frame: ExecFrame, dataBytes: number): void {
    if (this.reconnectable) {
      const watermark = this.nextWatermark++;
      frame.watermark = watermark;
      const size = dataBytes + 16;
      this.replay.push({ frame, watermark, size });
      this.replayBytes += size;
      while (this.replayBytes > REPLAY_BUFFER_BYTES && this.replay.length > 0) {
        this.replayBytes -= this.replay.shift()!.size;
      }
    }
    if (!this.attachedOnce) {
      this.early.push(frame);
    }
    for (const subscriber of [...this.subscribers]) {
      this.deliver(subscriber, frame);
    }
  }

  private deliver(subscriber: ExecSubscriber, frame: ExecFrame): void {
    if (this.reconnectable && subscriber.inFlight >= SUBSCRIBER_QUEUE_FRAMES) {
      // Orchard drops a subscriber whose queue is full; it can reconnect and ask for history.
      this.drop(subscriber, CLOSE_NORMAL, COMMAND_FINISHED);
      return;
    }
    subscriber.inFlight++;
    subscriber.socket.send(JSON.stringify(frame), () => {
      subscriber.inFlight--;
      this.maybeResumeOutput();
    });
    if (!this.reconnectable && !this.pausedOutput && subscriber.inFlight >= LEGACY_PAUSE_FRAMES) {
      // The only reader of a legacy session is behind: let the command wait instead of buffering its output.
      this.pausedOutput = true;
      this.process.pause();
    }
  }

  private maybeResumeOutput(): void {
    if (!this.pausedOutput) {
      return;
    }
    for (const subscriber of this.subscribers) {
      if (subscriber.inFlight > LEGACY_RESUME_FRAMES) {
        return;
      }
    }
    this.pausedOutput = false;
    this.process.resume();
  }

  /** Sends a frame outside the live queue (history replay, errors, no_more_history). */
  private sendDirect(subscriber: ExecSubscriber, frame: ExecFrame): void {
    subscriber.socket.send(JSON.stringify(frame), () => undefined);
  }

  /** Closes one subscriber's socket and forgets it (for a legacy session this kills a running command). */
  private drop(subscriber: ExecSubscriber, code: number, reason: string): void {
    if (subscriber.gone) {
      return;
    }
    subscriber.socket.close(code, reason);
    this.detach(subscriber);
  }
}
