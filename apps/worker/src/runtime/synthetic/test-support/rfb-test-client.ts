import { connect, type Socket } from 'node:net';

/**
 * A minimal RFB client for the VNC server's tests (no encoding but Raw): reads exact byte counts from the server
 * with a bounded wait, and writes client messages (RFC 6143 §7.5).
 */
export class RfbTestClient {
  private buffered: Buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<RfbTestClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RfbTestClient(socket);
  }

  /** Wraps a socket that is already connected (e.g. one from `VmRuntime.connect`). */
  static over(socket: Socket): RfbTestClient {
    return new RfbTestClient(socket);
  }

  /** The next `length` bytes from the server; fails when the server closes first or after `timeoutMs`. */
  async read(length: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered.length < length) {
      if (this.ended) {
        throw new Error(`the server closed the connection after ${this.buffered.length} of ${length} bytes`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${length} bytes (got ${this.buffered.length})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    const out = this.buffered.subarray(0, length);
    this.buffered = this.buffered.subarray(length);
    return out;
  }

  /** Resolves once the server has closed the connection (fails after `timeoutMs`). */
  async closed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) {
        throw new Error('the server did not close the connection');
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Version 3.8, security None, shared ClientInit; returns ServerInit's size, pixel format bytes and name. */
  async handshake(): Promise<{ width: number; height: number; pixelFormat: Buffer; name: string }> {
    await this.read(12);
    this.send(Buffer.from('RFB 003.008\n'));
    await this.read(2); // [1 security type, None]
    this.send(Buffer.from([1]));
    await this.read(4); // SecurityResult
    this.send(Buffer.from([1]));
    return this.serverInit();
  }

  async serverInit(): Promise<{ width: number; height: number; pixelFormat: Buffer; name: string }> {
    const init = await this.read(24);
    const name = await this.read(init.readUInt32BE(20));
    return {
      width: init.readUInt16BE(0),
      height: init.readUInt16BE(2),
      pixelFormat: init.subarray(4, 20),
      name: name.toString('utf8'),
    };
  }

  requestUpdate(incremental: boolean, x: number, y: number, width: number, height: number): void {
    const message = Buffer.alloc(10);
    message.writeUInt8(3, 0);
    message.writeUInt8(incremental ? 1 : 0, 1);
    message.writeUInt16BE(x, 2);
    message.writeUInt16BE(y, 4);
    message.writeUInt16BE(width, 6);
    message.writeUInt16BE(height, 8);
    this.send(message);
  }

  /** Reads one FramebufferUpdate of Raw rectangles with `bytesPerPixel`. */
  async readUpdate(bytesPerPixel = 4, timeoutMs = 5000): Promise<RawRect[]> {
    const header = await this.read(4, timeoutMs);
    if (header[0] !== 0) {
      throw new Error(`expected a FramebufferUpdate, got message type ${header[0]}`);
    }
    const rects: RawRect[] = [];
    for (let i = 0; i < header.readUInt16BE(2); i++) {
      const rect = await this.read(12, timeoutMs);
      const [x, y, width, height] = [0, 2, 4, 6].map((offset) => rect.readUInt16BE(offset));
      const encoding = rect.readInt32BE(8);
      if (encoding !== 0) {
        throw new Error(`expected Raw encoding, got ${encoding}`);
      }
      rects.push({ x, y, width, height, data: await this.read(width * height * bytesPerPixel, timeoutMs) });
    }
    return rects;
  }

  pointer(x: number, y: number, buttons: number): void {
    const message = Buffer.alloc(6);
    message.writeUInt8(5, 0);
    message.writeUInt8(buttons, 1);
    message.writeUInt16BE(x, 2);
    message.writeUInt16BE(y, 4);
    this.send(message);
  }

  key(keysym: number, down: boolean): void {
    const message = Buffer.alloc(8);
    message.writeUInt8(4, 0);
    message.writeUInt8(down ? 1 : 0, 1);
    message.writeUInt32BE(keysym, 4);
    this.send(message);
  }

  send(data: Buffer): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface RawRect {
  x: number;
  y: number;
  width: number;
  height: number;
  data: Buffer;
}

/** The 32-bit little-endian pixel at screen position (`x`, `y`) of `rect`, or undefined when outside it. */
export function pixelAt(rect: RawRect, x: number, y: number, bytesPerPixel = 4): number | undefined {
  if (x < rect.x || y < rect.y || x >= rect.x + rect.width || y >= rect.y + rect.height) {
    return undefined;
  }
  const offset = ((y - rect.y) * rect.width + (x - rect.x)) * bytesPerPixel;
  return bytesPerPixel === 4 ? rect.data.readUInt32LE(offset) : rect.data.readUInt16LE(offset);
}
