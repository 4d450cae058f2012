import type { Socket } from 'node:net';
import {
  pixelEncoder,
  pixelFormatProblem,
  readPixelFormat,
  SERVER_PIXEL_FORMAT,
  writePixelFormat,
} from './rfb-pixel-format';
import { intersection, subtract, union, type Rect } from './rect';
import type { TestPatternScreen } from './test-pattern-screen';

/**
 * A VNC server of a synthetic VM (VM port 5900, issue 16): the Remote Framebuffer protocol (RFC 6143), version 3.8 —
 * and 3.7 and 3.3 for older clients — with security type None, Raw encoding, and true-colour pixel formats of 8, 16
 * or 32 bits per pixel. It serves a {@link TestPatternScreen}; key, pointer and clipboard events go to that screen.
 */

const SECURITY_NONE = 1;
const ENCODING_RAW = 0;
/** The longest clipboard text a client may send; a longer one closes the connection (it would be held in memory). */
const MAX_CUT_TEXT = 1024 * 1024;
/** Past this many changed rectangles waiting to be sent, they are merged into one. */
const MAX_DIRTY = 16;

/** Client-to-server message types (RFC 6143 §7.5). */
const enum ClientMessage {
  SetPixelFormat = 0,
  SetEncodings = 2,
  FramebufferUpdateRequest = 3,
  KeyEvent = 4,
  PointerEvent = 5,
  ClientCutText = 6,
}

type Phase = 'version' | 'security' | 'client-init' | 'normal' | 'closed';

/** Serves RFB on `socket` (a connection to VM port 5900) until either side closes it. */
export function serveRfb(socket: Socket, screen: TestPatternScreen, log: (line: string) => void = () => undefined) {
  new RfbConnection(socket, screen, log).start();
}

class RfbConnection {
  private phase: Phase = 'version';
  private minor = 8;
  private input: Buffer = Buffer.alloc(0);
  private encode = pixelEncoder(SERVER_PIXEL_FORMAT);
  /** What changed since it was last sent (a few rectangles; merged into their bounding box past MAX_DIRTY). */
  private dirty: Rect[] = [];
  /** An incremental request that waits for something to change. */
  private waiting: Rect | undefined;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly screen: TestPatternScreen,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.once('close', () => this.unwatch?.());
    this.socket.write('RFB 003.008\n');
  }

  private receive(chunk: Buffer): void {
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    let used: number;
    while (this.input.length > 0 && (used = this.step(this.input)) > 0) {
      this.input = this.input.subarray(used);
    }
  }

  /** Handles the message at the start of `data`; returns the bytes it used, or 0 while the message is incomplete. */
  private step(data: Buffer): number {
    switch (this.phase) {
      case 'version':
        return data.length < 12 ? 0 : this.version(data.subarray(0, 12).toString('latin1'));
      case 'security':
        return this.security(data[0]);
      case 'client-init':
        this.serverInit();
        return 1;
      case 'normal':
        return this.message(data);
      case 'closed':
        return 0;
    }
  }

  private version(text: string): number {
    const match = /^RFB (\d{3})\.(\d{3})\n$/.exec(text);
    if (!match || Number(match[1]) !== 3) {
      return this.fail(`unsupported protocol version ${JSON.stringify(text)} (this server speaks RFB 3.3 to 3.8)`);
    }
    // RFC 6143 §7.1.1: any minor version other than 7 and 8 (3.5 of some clients included) is treated as 3.3.
    this.minor = Math.min(Number(match[2]), 8) === 8 ? 8 : Number(match[2]) === 7 ? 7 : 3;
    if (this.minor === 3) {
      this.socket.write(u32(SECURITY_NONE)); // 3.3: the server decides, and no SecurityResult follows None
      this.phase = 'client-init';
    } else {
      this.socket.write(Buffer.from([1, SECURITY_NONE]));
      this.phase = 'security';
    }
    return 12;
  }

  private security(type: number): number {
    if (type !== SECURITY_NONE) {
      const reason = `security type ${type} is not offered: this VNC server only offers None (1)`;
      if (this.minor === 8) {
        this.socket.write(Buffer.concat([u32(1), string(reason)]));
      }
      return this.fail(reason);
    }
    if (this.minor === 8) {
      this.socket.write(u32(0)); // SecurityResult OK; 3.7 goes straight on to ClientInit after None
    }
    this.phase = 'client-init';
    return 1;
  }

  private serverInit(): void {
    const header = Buffer.alloc(4);
    header.writeUInt16BE(this.screen.width, 0);
    header.writeUInt16BE(this.screen.height, 2);
    this.socket.write(Buffer.concat([header, writePixelFormat(SERVER_PIXEL_FORMAT), string(this.screen.name)]));
    this.phase = 'normal';
    this.unwatch = this.screen.watch((damage) => this.damaged(damage));
  }

  private message(data: Buffer): number {
    const type = data[0] as ClientMessage;
    switch (type) {
      case ClientMessage.SetPixelFormat: {
        if (data.length < 20) {
          return 0;
        }
        const format = readPixelFormat(data.subarray(4, 20));
        const problem = pixelFormatProblem(format);
        if (problem) {
          return this.fail(`SetPixelFormat: ${problem}`);
        }
        this.encode = pixelEncoder(format);
        return 20;
      }
      case ClientMessage.SetEncodings: {
        // Raw is always allowed (RFC 6143 §7.7.1), and the only encoding sent: the list needs no reading.
        return data.length < 4 || data.length < 4 + 4 * data.readUInt16BE(2) ? 0 : 4 + 4 * data.readUInt16BE(2);
      }
      case ClientMessage.FramebufferUpdateRequest: {
        if (data.length < 10) {
          return 0;
        }
        const area = this.screen.clip({
          x: data.readUInt16BE(2),
          y: data.readUInt16BE(4),
          width: data.readUInt16BE(6),
          height: data.readUInt16BE(8),
        });
        this.requested(data[1] !== 0, area);
        return 10;
      }
      case ClientMessage.KeyEvent:
        if (data.length < 8) {
          return 0;
        }
        this.screen.keyEvent(data[1] !== 0, data.readUInt32BE(4));
        return 8;
      case ClientMessage.PointerEvent:
        if (data.length < 6) {
          return 0;
        }
        this.screen.pointerEvent(data.readUInt16BE(2), data.readUInt16BE(4), data[1]);
        return 6;
      case ClientMessage.ClientCutText: {
        if (data.length < 8) {
          return 0;
        }
        const length = data.readUInt32BE(4);
        if (length > MAX_CUT_TEXT) {
          return this.fail(`ClientCutText of ${length} bytes is longer than ${MAX_CUT_TEXT}`);
        }
        if (data.length < 8 + length) {
          return 0;
        }
        this.screen.cutText(data.subarray(8, 8 + length).toString('latin1'));
        return 8 + length;
      }
      default:
        // Message lengths are known only per type: after an unknown one the stream cannot be followed.
        return this.fail(`unknown client message type ${data[0]}`);
    }
  }

  /** A FramebufferUpdateRequest: a full one is answered at once, an incremental one when `area` has changed. */
  private requested(incremental: boolean, area: Rect): void {
    if (!incremental) {
      this.waiting = undefined;
      this.sendUpdate([area]);
      return;
    }
    this.waiting = area;
    this.flush();
  }

  private damaged(damage: Rect): void {
    this.dirty.push(damage);
    this.mergeDirty();
    this.flush();
  }

  private mergeDirty(): void {
    if (this.dirty.length > MAX_DIRTY) {
      this.dirty = [this.dirty.reduce(union)];
    }
  }

  /** Answers a waiting incremental request with the parts of it that changed, if any did. */
  private flush(): void {
    if (!this.waiting) {
      return;
    }
    const area = this.waiting;
    const changed = this.dirty.map((rect) => intersection(area, rect)).filter((r) => r.width > 0 && r.height > 0);
    if (changed.length > 0) {
      this.waiting = undefined;
      this.sendUpdate(changed);
    }
  }

  /**
   * A FramebufferUpdate of Raw rectangles; what they cover is no longer dirty (a dirty rectangle only partly sent keeps
   * its other part: kept whole, it would answer every later incremental request for the part at once, unchanged).
   */
  private sendUpdate(rects: Rect[]): void {
    this.dirty = rects.reduce((dirty, sent) => dirty.flatMap((rect) => subtract(rect, sent)), this.dirty);
    this.mergeDirty();
    const header = Buffer.alloc(4);
    header.writeUInt8(0, 0); // FramebufferUpdate
    header.writeUInt16BE(rects.length, 2);
    const parts: Buffer[] = [header];
    for (const rect of rects) {
      const rectHeader = Buffer.alloc(12);
      rectHeader.writeUInt16BE(rect.x, 0);
      rectHeader.writeUInt16BE(rect.y, 2);
      rectHeader.writeUInt16BE(rect.width, 4);
      rectHeader.writeUInt16BE(rect.height, 6);
      rectHeader.writeInt32BE(ENCODING_RAW, 8);
      parts.push(rectHeader, this.encode(this.screen, rect));
    }
    this.socket.write(Buffer.concat(parts));
  }

  /** Logs why and closes the connection (RFB has no error message once past the handshake). Returns 0. */
  private fail(reason: string): number {
    this.log(`VNC client ${this.socket.remoteAddress ?? ''}:${this.socket.remotePort ?? ''} closed: ${reason}`);
    this.phase = 'closed';
    this.input = Buffer.alloc(0);
    this.unwatch?.();
    this.socket.destroySoon(); // after what was written (e.g. the reason of a failed security handshake)
    return 0;
  }
}

function u32(value: number): Buffer {
  const data = Buffer.alloc(4);
  data.writeUInt32BE(value, 0);
  return data;
}

/** An RFB string: U32 length, then UTF-8 bytes. */
function string(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([u32(bytes.length), bytes]);
}
