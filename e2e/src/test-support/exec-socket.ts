import type { ExecFrame } from '@grove/resources';
import { waitFor } from '@grove/testing';
import type { WebSocket } from 'ws';

/** How an exec WebSocket closed. */
export interface ExecClosed {
  code: number;
  reason: string;
}

/**
 * The client side of an exec WebSocket (orchard.md §1.5) for tests: records every frame the controller sends and how
 * the socket closed, and sends client frames. Resumes the (paused) WebSocket the client library returns.
 */
export class ExecSocket {
  readonly frames: ExecFrame[] = [];
  readonly closed: Promise<ExecClosed>;
  private closedWith: ExecClosed | undefined;

  constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
      }),
    );
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.frames.push(JSON.parse(data.toString()) as ExecFrame);
      }
    });
    ws.resume();
  }

  send(frame: ExecFrame | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends stdin bytes; an empty string ends stdin. */
  stdin(text: string): void {
    this.send(text === '' ? { type: 'stdin' } : { type: 'stdin', data: Buffer.from(text).toString('base64') });
  }

  /** The decoded output of the frames received so far (both streams, or one). */
  output(type?: 'stdout' | 'stderr', frames: ExecFrame[] = this.frames): string {
    return frames
      .filter((f) => (type ? f.type === type : f.type === 'stdout' || f.type === 'stderr'))
      .map((f) => Buffer.from(f.data ?? '', 'base64').toString())
      .join('');
  }

  /** Resolves with the first frame matching `match`, waiting for it; fails if the socket closes first. */
  async frame(match: (frame: ExecFrame) => boolean, what: string, timeoutMs = 15_000): Promise<ExecFrame> {
    return waitFor(
      what,
      () => {
        const found = this.frames.find(match);
        if (!found && this.closedWith) {
          throw new Error(`the socket closed (${this.closedWith.code} ${this.closedWith.reason}) before ${what}`);
        }
        return found;
      },
      timeoutMs,
      10,
    );
  }

  /** Waits until the output received so far contains `text`. */
  async outputContains(text: string, timeoutMs = 15_000): Promise<void> {
    await waitFor(`output containing ${JSON.stringify(text)}`, () => this.output().includes(text), timeoutMs, 10);
  }
}
