import { Duplex, type Writable } from 'node:stream';
import type { Connection, RejectConnection, ServerChannel } from 'ssh2';
import type { SshFailure } from './ssh-gateway.errors';

interface ProtocolWithOpenFail {
  channelOpenFail(recipient: number, reason: number, description?: string): void;
}

/**
 * Rejects a channel open with a reason code and a description the client prints (OpenSSH: `channel 0: open failed:
 * connect failed: VM "x" not found`). ssh2's `reject()` always sends an empty description and its own reason, so
 * the protocol's `channelOpenFail` is swapped for the duration of that synchronous call; without that internal,
 * the plain rejection is sent.
 */
export function rejectChannel(connection: Connection, reject: RejectConnection, failure: SshFailure): void {
  const protocol = (connection as unknown as { _protocol?: Partial<ProtocolWithOpenFail> })._protocol;
  const original = protocol?.channelOpenFail;
  if (!protocol || typeof original !== 'function') {
    reject();
    return;
  }
  protocol.channelOpenFail = (recipient: number) =>
    original.call(protocol, recipient, failure.reason, failure.message.slice(0, 1000));
  try {
    reject();
  } finally {
    protocol.channelOpenFail = original;
  }
}

/** Resolves once everything written to `stream` so far went out on the channel, or the channel closed. */
export function flushed(stream: Writable, channel: ServerChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.off('close', done);
      resolve();
    };
    channel.once('close', done);
    stream.write(Buffer.alloc(0), done);
  });
}

/**
 * A `direct-tcpip` channel as the byte stream a tunnel endpoint expects, with TCP's half-close: ending the writable
 * side sends the channel's EOF only (ssh2's own `end()` on a server channel also closes it, which would cut off what
 * the client still sends), and the channel is closed when the stream is destroyed. When the client closes the
 * channel, both sides end: bytes that still arrive for it are dropped, as the client asked for no more.
 */
export class ChannelByteStream extends Duplex {
  private pendingWrite: (() => void) | undefined;
  private channelClosed = false;

  constructor(private readonly channel: ServerChannel) {
    super({ allowHalfOpen: true });
    channel.on('data', (data: Buffer) => {
      if (!this.push(data)) {
        channel.pause();
      }
    });
    channel.once('end', () => this.push(null));
    channel.on('drain', () => this.releaseWrite());
    channel.once('close', () => {
      this.channelClosed = true;
      this.releaseWrite();
      this.push(null);
      if (!this.writableEnded) {
        this.end();
      }
    });
    channel.on('error', (err: Error) => this.destroy(err));
  }

  override _read(): void {
    this.channel.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.channelClosed || !this.open) {
      callback();
      return;
    }
    if (this.channel.write(chunk)) {
      callback();
    } else {
      this.pendingWrite = () => callback();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.channelClosed && this.open) {
      this.channel.eof();
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.releaseWrite();
    this.channel.close();
    callback(error);
  }

  /** Whether the channel still takes data from this side (ssh2 drops writes silently otherwise, without a callback). */
  private get open(): boolean {
    return (this.channel as unknown as { outgoing?: { state?: string } }).outgoing?.state === 'open';
  }

  private releaseWrite(): void {
    const pending = this.pendingWrite;
    this.pendingWrite = undefined;
    pending?.();
  }
}
