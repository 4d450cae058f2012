/** The pixel formats of the synthetic VNC server (RFC 6143 §7.4): parsing, checking, and Raw pixel data in them. */
import type { Rect } from './rect';
import type { TestPatternScreen } from './test-pattern-screen';

/** A PIXEL_FORMAT (RFC 6143 §7.4). */
export interface PixelFormat {
  bitsPerPixel: number;
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  redMax: number;
  greenMax: number;
  blueMax: number;
  redShift: number;
  greenShift: number;
  blueShift: number;
}

/** What the server offers in ServerInit: 32-bit little-endian true colour, 8 bits per channel, 0x00RRGGBB. */
export const SERVER_PIXEL_FORMAT: PixelFormat = {
  bitsPerPixel: 32,
  depth: 24,
  bigEndian: false,
  trueColour: true,
  redMax: 255,
  greenMax: 255,
  blueMax: 255,
  redShift: 16,
  greenShift: 8,
  blueShift: 0,
};

/** Why the server cannot send pixels in `format`, or undefined when it can. */
export function pixelFormatProblem(format: PixelFormat): string | undefined {
  if (!format.trueColour) {
    return 'colour-map pixel formats are not supported, only true colour';
  }
  if (![8, 16, 32].includes(format.bitsPerPixel)) {
    return `bits-per-pixel ${format.bitsPerPixel} is not supported (8, 16 or 32)`;
  }
  for (const [channel, max, shift] of [
    ['red', format.redMax, format.redShift],
    ['green', format.greenMax, format.greenShift],
    ['blue', format.blueMax, format.blueShift],
  ] as const) {
    if (max === 0 || (max & (max + 1)) !== 0 || max > 255 || shift + Math.log2(max + 1) > format.bitsPerPixel) {
      return `${channel}-max ${max} with ${channel}-shift ${shift} does not fit ${format.bitsPerPixel} bits per pixel`;
    }
  }
  return undefined;
}

/** Raw pixel data of `rect` in `format` (checked by {@link pixelFormatProblem}), row by row. */
export type PixelEncoder = (screen: TestPatternScreen, rect: Rect) => Buffer;

export function pixelEncoder(format: PixelFormat): PixelEncoder {
  const table = (max: number, shift: number) =>
    Uint32Array.from({ length: 256 }, (_, v) => Math.round((v * max) / 255) << shift);
  const red = table(format.redMax, format.redShift);
  const green = table(format.greenMax, format.greenShift);
  const blue = table(format.blueMax, format.blueShift);
  const bytes = format.bitsPerPixel / 8;
  return (screen, rect) => {
    const out = Buffer.alloc(rect.width * rect.height * bytes);
    let offset = 0;
    for (let y = rect.y; y < rect.y + rect.height; y++) {
      for (let x = rect.x; x < rect.x + rect.width; x++) {
        const rgb = screen.pixels[y * screen.width + x];
        const pixel = (red[rgb >>> 16] | green[(rgb >>> 8) & 0xff] | blue[rgb & 0xff]) >>> 0;
        if (bytes === 4) {
          out.writeUInt32LE(pixel, offset);
        } else if (bytes === 2) {
          out.writeUInt16LE(pixel, offset);
        } else {
          out[offset] = pixel;
        }
        offset += bytes;
      }
    }
    if (format.bigEndian && bytes === 4) {
      out.swap32();
    } else if (format.bigEndian && bytes === 2) {
      out.swap16();
    }
    return out;
  };
}

export function readPixelFormat(data: Buffer): PixelFormat {
  return {
    bitsPerPixel: data[0],
    depth: data[1],
    bigEndian: data[2] !== 0,
    trueColour: data[3] !== 0,
    redMax: data.readUInt16BE(4),
    greenMax: data.readUInt16BE(6),
    blueMax: data.readUInt16BE(8),
    redShift: data[10],
    greenShift: data[11],
    blueShift: data[12],
  };
}

export function writePixelFormat(format: PixelFormat): Buffer {
  const data = Buffer.alloc(16);
  data.writeUInt8(format.bitsPerPixel, 0);
  data.writeUInt8(format.depth, 1);
  data.writeUInt8(format.bigEndian ? 1 : 0, 2);
  data.writeUInt8(format.trueColour ? 1 : 0, 3);
  data.writeUInt16BE(format.redMax, 4);
  data.writeUInt16BE(format.greenMax, 6);
  data.writeUInt16BE(format.blueMax, 8);
  data.writeUInt8(format.redShift, 10);
  data.writeUInt8(format.greenShift, 11);
  data.writeUInt8(format.blueShift, 12);
  return data;
}
