import type { ExecFrame, ExecTerminal } from '@grove/resources';
// Not from the barrel: that pulls Node modules the browser has not (apps/console/tsconfig.json names this path).
import { ExecOutputOrder, type ExecOutputFrame } from '@grove/resources/exec-output-order';
import { base64ToBytes, bytesToBase64, describeClose, parseFrame } from './exec-frames';
import { Liveness } from './liveness';

/** Where a shell session stands, as the terminal shows it. */
export type ShellState =
  /** `problem`: why the previous attempt failed, while the next one waits. */
  | { kind: 'connecting'; problem?: string }
  | { kind: 'connected' }
  | { kind: 'reconnecting'; attempt: number; reason: string }
  | { kind: 'exited'; code: number }
  /** `canRetry`: the shell may still run (the page gave up reconnecting); otherwise it is gone. */
  | { kind: 'failed'; message: string; canRetry: boolean };

/** Why a connection attempt failed, as a diagnosis found it: `final` stops the retries. */
export interface Diagnosis {
  final: boolean;
  message: string;
}

export interface ShellSessionOptions {
  /** Opens the exec WebSocket of the VM with these query parameters (credentials go in its subprotocols). */
  open(query: URLSearchParams): WebSocket;
  /** The shell command line (run with /bin/sh -c). */
  command: string;
  /** Reconnectable session id: a dropped socket reattaches to the same running shell. */
  sessionId: string;
  /** The terminal's size now. */
  size(): ExecTerminal;
  onOutput(bytes: Uint8Array): void;
  onState(state: ShellState): void;
  /**
   * Asked after an attempt that never opened (a browser does not see a refused handshake's status): whether the
   * shell can still be reached. `attaching` is true once the session was created.
   */
  diagnose(attaching: boolean): Promise<Diagnosis>;
  /** Delays before the reconnect attempts after a drop; after the last one the session gives up. */
  reconnectDelaysMs?: readonly number[];
}

/** About a minute of retries: long enough for a network blip or a controller restart behind a load balancer. */
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000, 8000];
/** Seconds the controller may wait for the VM to run and the shell to start. */
const WAIT_SECONDS = '15';
/**
 * Seconds without an attached socket after which the controller ends the shell (Grove's `detachTimeout`): a tab that
 * vanished without closing its session (crash, sleep, network gone) does not leave the shell running (docs/console.md).
 */
const DETACH_TIMEOUT_SECONDS = '300';
/** Acknowledgements are coalesced: one per this many milliseconds at most. */
const ACK_DELAY_MS = 100;
/** WebSocket ready states (the standard's numbers; no global WebSocket is needed to compare them). */
const CONNECTING = 0;
const OPEN = 1;
/** Keystrokes typed while reconnecting are kept up to this many bytes, then dropped. */
const PENDING_INPUT_LIMIT = 64 * 1024;

/**
 * One shell in a VM through the exec WebSocket, kept across dropped sockets: output frames carry watermarks, every
 * new socket asks `history` from the last one shown and skips frames already shown, so the screen neither loses nor
 * repeats output; keystrokes typed while disconnected are sent after the reconnect.
 */
export class ShellSession {
  private ws: WebSocket | undefined;
  private liveness: Liveness | undefined;
  private created = false;
  private acked = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Output in watermark order, each frame once (a replay repeats frames this page already showed). */
  private readonly output = new ExecOutputOrder({
    accepting: () => !this.ended,
    deliver: (frame) => this.deliver(frame),
  });
  private pendingInput: Uint8Array[] = [];
  private pendingBytes = 0;
  private failedAttempts = 0;
  private ended = false;
  private firstSize: ExecTerminal | undefined;
  private sentSize: ExecTerminal | undefined;
  private readonly encoder = new TextEncoder();

  constructor(private readonly options: ShellSessionOptions) {}

  start(): void {
    this.options.onState({ kind: 'connecting' });
    this.connect();
  }

  /** Keystrokes (xterm's onData) as UTF-8. */
  input(text: string): void {
    this.inputBytes(this.encoder.encode(text));
  }

  /** Raw bytes (xterm's onBinary gives one character per byte). */
  inputBinary(text: string): void {
    this.inputBytes(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff));
  }

  /** The terminal changed size: the PTY follows (now, or on the next connection). */
  resize(): void {
    const size = this.options.size();
    if (this.isOpen() && !sameSize(size, this.sentSize)) {
      this.send({ type: 'resize', terminal: size });
      this.sentSize = size;
    }
  }

  /** Drops the current socket as a network failure would, keeping the session (the next socket reattaches). */
  drop(): void {
    this.ws?.close();
  }

  /** Starts over after giving up: reattaches to the session if it still exists. */
  retry(): void {
    if (this.ended) {
      return;
    }
    this.failedAttempts = 0;
    clearTimeout(this.retryTimer);
    this.options.onState({ kind: 'connecting' });
    this.connect();
  }

  /** Ends the shell (the session is closed, the command killed) and releases everything. */
  dispose(): void {
    this.ended = true;
    clearTimeout(this.ackTimer);
    clearTimeout(this.retryTimer);
    this.liveness?.stop();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      this.detachListeners(ws);
      if (ws.readyState === OPEN) {
        ws.send(JSON.stringify({ type: 'close' } satisfies ExecFrame));
      }
      if (ws.readyState === CONNECTING) {
        // A socket still opening cannot send `close`: it is closed as soon as it opens, and the command with it.
        ws.onopen = () => {
          ws.send(JSON.stringify({ type: 'close' } satisfies ExecFrame));
          ws.close(1000);
        };
      } else {
        ws.close(1000);
      }
    }
  }

  private query(): URLSearchParams {
    const query = new URLSearchParams({ session: this.options.sessionId, wait: WAIT_SECONDS });
    if (!this.created) {
      // Until the session exists every attempt asks with the same options, so that a retry whose first attempt did
      // create it attaches instead of being refused for a different size.
      this.firstSize ??= this.options.size();
      query.set('command', this.options.command);
      query.set('tty', 'true');
      query.set('rows', String(this.firstSize.rows));
      query.set('cols', String(this.firstSize.cols));
      query.set('env[TERM]', 'xterm-256color');
      query.set('env[COLORTERM]', 'truecolor');
      query.set('detachTimeout', DETACH_TIMEOUT_SECONDS);
    }
    return query;
  }

  private connect(): void {
    let ws: WebSocket;
    try {
      ws = this.options.open(this.query());
    } catch (err) {
      this.options.onState({
        kind: 'failed',
        message: err instanceof Error ? err.message : String(err),
        canRetry: this.created,
      });
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.sentSize = this.created ? undefined : this.firstSize;
      this.created = true;
      this.failedAttempts = 0;
      this.options.onState({ kind: 'connected' });
      this.output.startReplay();
      this.send({ type: 'history', watermark: this.output.delivered });
      this.resize();
      this.flushInput();
      this.liveness = new Liveness({
        // `history` from what was shown is answered by `no_more_history` (and repeats nothing).
        probe: () => this.send({ type: 'history', watermark: this.output.delivered }),
        dead: () => this.abandon(ws, 'the connection stopped answering'),
      });
      this.liveness.start();
    };
    ws.onmessage = (event: MessageEvent) => {
      this.liveness?.heard();
      this.onMessage(event.data);
    };
    ws.onclose = (event: CloseEvent) => this.abandon(ws, describeClose(event), opened);
  }

  /** Leaves a socket that closed (or stopped answering) and, unless the shell ended, reattaches. */
  private abandon(ws: WebSocket, reason: string, opened = true): void {
    this.detachListeners(ws);
    if (this.ws !== ws || this.ended) {
      return;
    }
    this.liveness?.stop();
    this.liveness = undefined;
    this.ws = undefined;
    ws.close();
    this.lost(opened, reason);
  }

  private detachListeners(ws: WebSocket): void {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
  }

  /** The socket closed before the shell ended: reattach, after a diagnosis when it never opened. */
  private lost(opened: boolean, reason: string): void {
    if (/session is closed/i.test(reason)) {
      this.finish({ kind: 'failed', message: 'The shell session was closed.', canRetry: false });
      return;
    }
    const delays = this.options.reconnectDelaysMs ?? RECONNECT_DELAYS_MS;
    if (this.failedAttempts >= delays.length) {
      this.options.onState({
        kind: 'failed',
        message: `Lost the connection to the shell (${reason}).`,
        canRetry: this.created,
      });
      return;
    }
    const attempt = ++this.failedAttempts;
    const next = () => {
      this.retryTimer = setTimeout(
        () => {
          if (!this.ended) {
            this.connect();
          }
        },
        delays[attempt - 1],
      );
    };
    if (opened) {
      this.options.onState({ kind: 'reconnecting', attempt, reason });
      next();
      return;
    }
    void this.options.diagnose(this.created).then(
      (diagnosis) => {
        if (this.ended) {
          return;
        }
        if (diagnosis.final) {
          this.options.onState({ kind: 'failed', message: diagnosis.message, canRetry: false });
          return;
        }
        this.options.onState(
          this.created
            ? { kind: 'reconnecting', attempt, reason: diagnosis.message }
            : { kind: 'connecting', problem: diagnosis.message },
        );
        next();
      },
      () => next(),
    );
  }

  private onMessage(data: unknown): void {
    const frame = parseFrame(data);
    if (frame) {
      this.output.take(frame);
    }
  }

  /** An output frame, in order and once. */
  private deliver(frame: ExecOutputFrame): void {
    if (frame.watermark !== undefined) {
      this.scheduleAck();
    }
    switch (frame.type) {
      case 'stdout':
      case 'stderr':
        this.options.onOutput(base64ToBytes(frame.data));
        break;
      case 'exit':
        this.finish({ kind: 'exited', code: frame.exit?.code ?? 0 });
        break;
      case 'error':
        this.finish({
          kind: 'failed',
          message: frame.error || 'The controller reported an unknown error.',
          canRetry: false,
        });
        break;
    }
  }

  /** The shell ended: the session is closed on the controller (its output was shown) and nothing reconnects. */
  private finish(state: ShellState): void {
    this.options.onState(state);
    this.dispose();
  }

  private scheduleAck(): void {
    if (this.ackTimer !== undefined) {
      return;
    }
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      const delivered = this.output.delivered;
      if (delivered > this.acked && this.send({ type: 'ack', watermark: delivered })) {
        this.acked = delivered;
      }
    }, ACK_DELAY_MS);
  }

  private inputBytes(bytes: Uint8Array): void {
    if (this.ended || bytes.length === 0) {
      return;
    }
    if (this.pendingBytes + bytes.length <= PENDING_INPUT_LIMIT) {
      this.pendingInput.push(bytes);
      this.pendingBytes += bytes.length;
    }
    this.flushInput();
  }

  private flushInput(): void {
    if (!this.isOpen()) {
      return;
    }
    for (const bytes of this.pendingInput) {
      this.send({ type: 'stdin', data: bytesToBase64(bytes) });
    }
    this.pendingInput = [];
    this.pendingBytes = 0;
  }

  private isOpen(): boolean {
    return this.ws !== undefined && this.ws.readyState === OPEN;
  }

  /** Sends a frame if the socket is open; returns whether it was. */
  private send(frame: ExecFrame): boolean {
    if (!this.isOpen()) {
      return false;
    }
    this.ws!.send(JSON.stringify(frame));
    return true;
  }
}

function sameSize(a: ExecTerminal, b: ExecTerminal | undefined): boolean {
  return b !== undefined && a.rows === b.rows && a.cols === b.cols;
}
