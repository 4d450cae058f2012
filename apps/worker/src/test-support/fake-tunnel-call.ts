import { Duplex } from 'node:stream';
import type { TunnelFrame } from '@grove/proto';
import type { TunnelClientCall } from '../session/tunnel-pool';

/**
 * A used Tunnel call as the worker holds it (objectMode frames both ways, like grpc-js with the tunnel codec), driven
 * by a test standing in for the controller: `send` delivers frames to the worker, `endFromController` ends the
 * controller's side, `written` collects the worker's frames. `hold()` stops taking the worker's frames, so that
 * `write()` returns false once the stream's buffer (16 frames, as grpc-js) is full, and `release()` takes them again.
 */
export class FakeTunnelCall extends Duplex {
  /** Frames the stream has taken from the worker. */
  readonly written: TunnelFrame[] = [];
  /** Frames the worker has handed to `write()`, taken or still buffered. */
  readonly offered: TunnelFrame[] = [];
  workerEnded = false;
  cancelled = false;
  private held: (() => void)[] | undefined;

  constructor() {
    super({ objectMode: true, read: () => undefined });
    // grpc-js hands over a used tunnel paused; the session must resume it.
    this.pause();
  }

  /** The call as the worker's code types it. */
  get asCall(): TunnelClientCall {
    return this as unknown as TunnelClientCall;
  }

  send(frame: TunnelFrame): void {
    this.push(frame);
  }

  endFromController(): void {
    this.push(null);
  }

  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    held.forEach((done) => done());
  }

  cancel(): void {
    this.cancelled = true;
    this.emit('error', Object.assign(new Error('Cancelled'), { code: 1, details: 'Cancelled on client' }));
  }

  /** Frames of one kind the worker wrote. */
  frames<K extends TunnelFrame['kind']>(kind: K): Extract<TunnelFrame, { kind: K }>[] {
    return this.written.filter((frame): frame is Extract<TunnelFrame, { kind: K }> => frame.kind === kind);
  }

  /** Everything the worker wrote on one output stream, as text. */
  text(stream: 'stdout' | 'stderr'): string {
    return Buffer.concat(this.frames(stream).map((frame) => frame.data)).toString();
  }

  override write(
    chunk: unknown,
    encodingOrCallback?: BufferEncoding | ((error: Error | null | undefined) => void),
    callback?: (error: Error | null | undefined) => void,
  ): boolean {
    this.offered.push(chunk as TunnelFrame);
    return typeof encodingOrCallback === 'function'
      ? super.write(chunk, encodingOrCallback)
      : super.write(chunk, encodingOrCallback ?? 'utf8', callback);
  }

  override _write(frame: TunnelFrame, _encoding: BufferEncoding, done: () => void): void {
    this.written.push(frame);
    if (this.held) {
      this.held.push(done);
    } else {
      done();
    }
  }

  override _final(done: () => void): void {
    this.workerEnded = true;
    done();
  }
}
