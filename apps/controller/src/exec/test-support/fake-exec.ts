import { EventEmitter } from 'node:events';
import type { ExecEnd } from '../../worker-sessions/remote-exec';
import type { ExecSocket } from '../exec-session';

/** A RemoteExec stand-in: tests emit its output and end, and read what the session asked of it. */
export class FakeExec extends EventEmitter {
  readonly session = 'fake-session';
  via = 'agent';
  bytesIn = 0;
  bytesOut = 0;
  readonly stdin: Buffer[] = [];
  stdinEnded = false;
  readonly resizes: [number, number][] = [];
  killedWith: string | undefined;
  paused = false;
  /** writeStdin's answer (false: the session must wait for 'drain'). */
  stdinAccepts = true;
  private ended = false;
  private resolveDone!: (end: ExecEnd) => void;
  readonly done = new Promise<ExecEnd>((resolve) => (this.resolveDone = resolve));

  get finished(): boolean {
    return this.ended;
  }

  writeStdin(data: Buffer): boolean {
    this.stdin.push(data);
    this.bytesIn += data.length;
    return this.stdinAccepts;
  }

  endStdin(): void {
    this.stdinEnded = true;
  }

  resize(rows: number, cols: number): void {
    this.resizes.push([rows, cols]);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  kill(reason: string): void {
    this.killedWith = reason;
    this.finish({ error: reason });
  }

  out(stream: 'stdout' | 'stderr', text: string | Buffer): void {
    const data = Buffer.isBuffer(text) ? text : Buffer.from(text);
    this.bytesOut += data.length;
    this.emit(stream, data);
  }

  finish(end: ExecEnd): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.resolveDone(end);
    this.emit('end', end);
  }
}

/** An ExecSocket that records frames and closes; `autoFlush: false` holds the write callbacks (a stalled client). */
export class FakeSocket implements ExecSocket {
  readonly sent: Record<string, unknown>[] = [];
  closedWith: { code: number; reason: string } | undefined;
  paused = false;
  private readonly held: (() => void)[] = [];

  constructor(private readonly autoFlush = true) {}

  send(text: string, done: () => void): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
    if (this.autoFlush) {
      done();
    } else {
      this.held.push(done);
    }
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  /** Lets the held writes complete. */
  flush(): void {
    for (const done of this.held.splice(0)) {
      done();
    }
  }

  /** The decoded data of the stdout/stderr frames, in order. */
  output(type?: 'stdout' | 'stderr'): string {
    return this.sent
      .filter((f) => (type ? f['type'] === type : f['type'] === 'stdout' || f['type'] === 'stderr'))
      .map((f) => Buffer.from(String(f['data']), 'base64').toString())
      .join('');
  }
}
