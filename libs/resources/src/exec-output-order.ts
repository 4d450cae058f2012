import type { ExecFrame } from './exec';

/*
 * The output side of a reconnectable exec session, shared by the CLI (`grove exec`) and the console's terminal: pure
 * logic without Node or browser APIs, so that both can run it.
 */

/** An output frame of the controller: what the sink is handed. */
export type ExecOutputFrame = ExecFrame & { type: 'stdout' | 'stderr' | 'exit' | 'error' };

/** Where ordered output goes. */
export interface ExecOutputSink {
  /** Whether output is still taken (false once the command's end was handed on or the client gave up). */
  accepting(): boolean;
  /** An output frame (`stdout`, `stderr`, `exit` or `error`), in watermark order, each once. */
  deliver(frame: ExecOutputFrame): void;
}

/**
 * Output frames in watermark order, each once (docs/exec.md, reconnectable sessions). Every new connection asks
 * `history` from `delivered` (`startReplay`); frames at or below `delivered` were handed on before (a replay, or a
 * live frame the replay repeats); during a replay a frame after a gap waits until the gap is filled or the replay
 * ends (`no_more_history`).
 */
export class ExecOutputOrder {
  private highest = 0;
  private replaying = false;
  private readonly held = new Map<number, ExecOutputFrame>();

  constructor(private readonly sink: ExecOutputSink) {}

  /** The highest watermark handed on: what `history` asks from. */
  get delivered(): number {
    return this.highest;
  }

  /** The client just sent `history` on a new connection. */
  startReplay(): void {
    this.replaying = true;
  }

  /**
   * A frame from the controller. `ordered` false hands output on as it comes (a command without a session has no
   * replay to reorder). Client frame types never come from the controller and are ignored.
   */
  take(frame: ExecFrame, ordered = true): void {
    switch (frame.type) {
      case 'stdout':
      case 'stderr':
      case 'exit':
      case 'error':
        // (the case narrows the type field, not the frame)
        if (ordered) {
          this.receive(frame as ExecOutputFrame);
        } else {
          this.hand(frame as ExecOutputFrame);
        }
        break;
      case 'no_more_history':
        this.replaying = false;
        for (const wm of [...this.held.keys()].sort((a, b) => a - b)) {
          const held = this.held.get(wm)!;
          this.held.delete(wm);
          if (wm > this.highest) {
            this.hand(held);
          }
        }
        break;
      case 'stdin':
      case 'resize':
      case 'history':
      case 'ack':
      case 'detach':
      case 'close':
        break;
    }
  }

  private receive(frame: ExecOutputFrame): void {
    const wm = frame.watermark;
    if (wm === undefined) {
      this.hand(frame); // an error frame about the client's last frame carries none
      return;
    }
    if (wm <= this.highest) {
      return;
    }
    if (this.replaying && wm !== this.highest + 1) {
      this.held.set(wm, frame);
      return;
    }
    this.hand(frame);
    for (let next = this.held.get(this.highest + 1); next; next = this.held.get(this.highest + 1)) {
      this.held.delete(this.highest + 1);
      this.hand(next);
    }
  }

  private hand(frame: ExecOutputFrame): void {
    if (!this.sink.accepting()) {
      return;
    }
    if (frame.watermark !== undefined) {
      this.highest = Math.max(this.highest, frame.watermark);
    }
    this.sink.deliver(frame);
  }
}
