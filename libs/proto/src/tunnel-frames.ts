import {
  makeClientConstructor,
  type MethodDefinition,
  type ServiceClientConstructor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { loadWorkerProtocol } from './worker-protocol';

/**
 * A frame of a `Tunnel` stream (worker.proto `TunnelFrame`), as the code handles it. The wire format is exactly the
 * protobuf encoding of the message, written and read by hand here: tunnel data is the hot path, and a generic
 * protobuf codec would copy every chunk once more and allocate an object graph per frame.
 */
export type TunnelFrame =
  | { kind: 'open'; session: string; vmUid: string; port: number }
  | { kind: 'data'; data: Buffer }
  | { kind: 'window'; bytes: number }
  | { kind: 'closeWrite' }
  | { kind: 'error'; message: string }
  | { kind: 'opened' };

/** Largest data payload a frame may carry. */
export const TUNNEL_MAX_DATA_BYTES = 64 * 1024;

// Field numbers of TunnelFrame's oneof, and protobuf wire types.
const OPEN = 1;
const DATA = 2;
const WINDOW = 3;
const CLOSE_WRITE = 4;
const ERROR = 5;
const OPENED = 6;
const VARINT = 0;
const LEN = 2;

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

/** A length-delimited field's header followed by `length` bytes to be filled by the caller. */
function lenField(field: number, length: number): { buf: Buffer; offset: number } {
  const buf = Buffer.allocUnsafe(1 + varintLength(length) + length);
  const offset = writeVarint(buf, writeVarint(buf, 0, (field << 3) | LEN), length);
  return { buf, offset };
}

function stringField(field: number, value: string): Buffer {
  if (value === '') {
    return Buffer.alloc(0);
  }
  const bytes = Buffer.from(value, 'utf8');
  const { buf, offset } = lenField(field, bytes.length);
  bytes.copy(buf, offset);
  return buf;
}

function message(field: number, body: Buffer): Buffer {
  const { buf, offset } = lenField(field, body.length);
  body.copy(buf, offset);
  return buf;
}

/** Encodes a frame into its protobuf bytes. */
export function encodeTunnelFrame(frame: TunnelFrame): Buffer {
  switch (frame.kind) {
    case 'data': {
      const { buf, offset } = lenField(DATA, frame.data.length);
      frame.data.copy(buf, offset);
      return buf;
    }
    case 'window': {
      const buf = Buffer.allocUnsafe(1 + varintLength(frame.bytes));
      writeVarint(buf, writeVarint(buf, 0, (WINDOW << 3) | VARINT), frame.bytes);
      return buf;
    }
    case 'open': {
      const port = Buffer.allocUnsafe(1 + varintLength(frame.port));
      writeVarint(port, writeVarint(port, 0, (3 << 3) | VARINT), frame.port);
      const body = Buffer.concat([
        stringField(1, frame.session),
        stringField(2, frame.vmUid),
        frame.port ? port : Buffer.alloc(0),
      ]);
      return message(OPEN, body);
    }
    case 'closeWrite':
      return message(CLOSE_WRITE, Buffer.alloc(0));
    case 'error':
      return message(ERROR, stringField(1, frame.message));
    case 'opened':
      return message(OPENED, Buffer.alloc(0));
  }
}

/** Reads protobuf fields of one message; unknown fields are skipped, so newer peers may add some. */
class Reader {
  offset = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.offset >= this.buf.length;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.offset >= this.buf.length) {
        throw new Error('truncated varint in tunnel frame');
      }
      const byte = this.buf[this.offset++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        return value;
      }
      scale *= 128;
      if (scale > 2 ** 49) {
        throw new Error('varint too long in tunnel frame');
      }
    }
  }

  bytes(): Buffer {
    const length = this.varint();
    const end = this.offset + length;
    if (end > this.buf.length) {
      throw new Error('truncated field in tunnel frame');
    }
    const out = this.buf.subarray(this.offset, end);
    this.offset = end;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case 1:
        this.offset += 8;
        return;
      case LEN:
        this.bytes();
        return;
      case 5:
        this.offset += 4;
        return;
      default:
        throw new Error(`unsupported wire type ${wireType} in tunnel frame`);
    }
  }
}

function decodeOpen(buf: Buffer): TunnelFrame {
  const reader = new Reader(buf);
  const frame = { kind: 'open' as const, session: '', vmUid: '', port: 0 };
  while (!reader.done) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    if (field === 1 && (tag & 7) === LEN) {
      frame.session = reader.bytes().toString('utf8');
    } else if (field === 2 && (tag & 7) === LEN) {
      frame.vmUid = reader.bytes().toString('utf8');
    } else if (field === 3 && (tag & 7) === VARINT) {
      frame.port = reader.varint();
    } else {
      reader.skip(tag & 7);
    }
  }
  return frame;
}

function decodeError(buf: Buffer): TunnelFrame {
  const reader = new Reader(buf);
  let text = '';
  while (!reader.done) {
    const tag = reader.varint();
    if (tag === ((1 << 3) | LEN)) {
      text = reader.bytes().toString('utf8');
    } else {
      reader.skip(tag & 7);
    }
  }
  return { kind: 'error', message: text };
}

/**
 * Decodes a frame. Data frames share memory with `buf` (no copy). A message whose oneof is unset or unknown to this
 * version decodes to undefined, which receivers ignore.
 */
export function decodeTunnelFrame(buf: Buffer): TunnelFrame | undefined {
  const reader = new Reader(buf);
  let frame: TunnelFrame | undefined;
  while (!reader.done) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === DATA && wireType === LEN) {
      frame = { kind: 'data', data: reader.bytes() };
    } else if (field === WINDOW && wireType === VARINT) {
      frame = { kind: 'window', bytes: reader.varint() };
    } else if (field === OPEN && wireType === LEN) {
      frame = decodeOpen(reader.bytes());
    } else if (field === CLOSE_WRITE && wireType === LEN) {
      reader.bytes();
      frame = { kind: 'closeWrite' };
    } else if (field === ERROR && wireType === LEN) {
      frame = decodeError(reader.bytes());
    } else if (field === OPENED && wireType === LEN) {
      reader.bytes();
      frame = { kind: 'opened' };
    } else {
      reader.skip(wireType);
    }
  }
  return frame;
}

/**
 * The WorkerService as grpc-js needs it: `Session` with the generated protobuf codec, `Tunnel` with the hand-written
 * frame codec above (the same bytes protobuf would produce; worker-protocol.spec.ts checks that).
 */
export function workerServiceDefinition(): ServiceDefinition {
  const generated = loadWorkerProtocol().grove.worker.v1.WorkerService.service;
  const tunnel = generated.Tunnel as MethodDefinition<unknown, unknown>;
  return {
    ...generated,
    Tunnel: {
      ...tunnel,
      requestSerialize: encodeTunnelFrame as (value: unknown) => Buffer,
      requestDeserialize: decodeTunnelFrame,
      responseSerialize: encodeTunnelFrame as (value: unknown) => Buffer,
      responseDeserialize: decodeTunnelFrame,
    },
  };
}

/** A grpc-js client class of the WorkerService with the tunnel codec. */
export function workerServiceClient(): ServiceClientConstructor {
  return makeClientConstructor(workerServiceDefinition(), 'grove.worker.v1.WorkerService');
}
