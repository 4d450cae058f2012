/**
 * A frame of a `Tunnel` stream (worker.proto `TunnelFrame`), as the code handles it. The wire format is exactly the
 * protobuf encoding of the message, written and read by hand here: tunnel data is the hot path, and a generic
 * protobuf codec would copy every chunk once more and allocate an object graph per frame.
 */
export type TunnelFrame =
  | {
      kind: 'open';
      session: string;
      vmUid: string;
      port: number;
      target?: TunnelTargetKind;
      /** The process's name in the VM's `hostProcesses` when `target` is `host-process`. */
      hostProcess?: string;
      /** W3C trace context of the controller's span of the session (issue 14); absent when it does not trace. */
      traceparent?: string;
    }
  | { kind: 'data'; data: Buffer }
  | { kind: 'window'; bytes: number }
  | { kind: 'closeWrite' }
  | { kind: 'error'; message: string }
  | { kind: 'opened' }
  | ({ kind: 'execStart' } & ExecStartFrame)
  | { kind: 'stdin'; data: Buffer }
  | { kind: 'resize'; rows: number; cols: number }
  | { kind: 'execStarted'; via: string }
  | { kind: 'stdout'; data: Buffer }
  | { kind: 'stderr'; data: Buffer }
  | { kind: 'exit'; code: number };

/**
 * What an `open` frame connects to instead of a TCP port (worker.proto `TunnelTarget`): `tart-guest-agent`, the VM's
 * Tart guest agent through its control socket; `host-process`, the socket of the host process the frame's
 * `hostProcess` names. `unknown` is what a target of a newer controller, or an empty one, decodes to; the worker
 * refuses it. Absent: the TCP port `port`.
 */
export type TunnelTargetKind = 'tart-guest-agent' | 'host-process' | 'unknown';

/**
 * The worker capability (`Worker.capabilities`) of a worker that serves `open` frames with the `tart-guest-agent`
 * target. Older workers ignore the target and would dial port 0, so the controller sends it only to workers with it.
 */
export const WORKER_CAPABILITY_TUNNEL_GUEST_AGENT = 'tunnel-guest-agent';
// (A worker that tunnels to host processes registers `host-processes`, WORKER_CAPABILITY_HOST_PROCESSES of
// @grove/resources: the capability also tells the scheduler it runs them.)

/**
 * What an exec session runs (worker.proto `ExecStart`): `argv` without a shell, through the VM's guest agent, else SSH
 * with `username`/`password`. `stdin` frames carry input (empty = end of file) when `interactive`; `resize` frames a
 * new terminal size when `tty`. The worker answers `execStarted`, then `stdout`/`stderr`, and ends with `exit` or an
 * `error` frame.
 */
export interface ExecStartFrame {
  session: string;
  vmUid: string;
  argv: string[];
  interactive: boolean;
  tty: boolean;
  rows: number;
  cols: number;
  env: Record<string, string>;
  workdir: string;
  username: string;
  password: string;
  /** W3C trace context of the controller's span of the session (issue 14); absent when it does not trace. */
  traceparent?: string;
}

/** Largest data payload a frame may carry. */
export const TUNNEL_MAX_DATA_BYTES = 64 * 1024;

// Field numbers of TunnelFrame's oneof, and protobuf wire types.
const OPEN = 1;
const DATA = 2;
const WINDOW = 3;
const CLOSE_WRITE = 4;
const ERROR = 5;
const OPENED = 6;
const EXEC_START = 7;
const EXEC_INPUT = 8;
const EXEC_OUTPUT = 9;
// Fields of ExecInput's and ExecOutput's oneofs.
const INPUT_STDIN = 1;
const INPUT_RESIZE = 2;
const OUTPUT_STARTED = 1;
const OUTPUT_STDOUT = 2;
const OUTPUT_STDERR = 3;
const OUTPUT_EXIT = 4;
// Fields of TunnelOpen, and of TunnelTarget's oneof.
const OPEN_TARGET = 4;
const OPEN_TRACEPARENT = 5;
// ExecStart's traceparent (its other fields are numbered where they are encoded).
const EXEC_START_TRACEPARENT = 12;
const TARGET_HOST_PROCESS = 1;
const TARGET_TART_GUEST_AGENT = 2;
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

/** A string field that is written even when empty (an element of a repeated field or a map entry). */
function stringElement(field: number, value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const { buf, offset } = lenField(field, bytes.length);
  bytes.copy(buf, offset);
  return buf;
}

/** A varint field (uint32, bool; an int32 below zero takes ten bytes, as protobuf sign-extends it to 64 bits). */
function varintField(field: number, value: number): Buffer {
  if (value === 0) {
    return Buffer.alloc(0);
  }
  const header = Buffer.allocUnsafe(varintLength(field << 3));
  writeVarint(header, 0, field << 3);
  if (value < 0) {
    let big = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    while (big >= 0x80n) {
      bytes.push(Number(big & 0x7fn) | 0x80);
      big >>= 7n;
    }
    bytes.push(Number(big));
    return Buffer.concat([header, Buffer.from(bytes)]);
  }
  const buf = Buffer.allocUnsafe(header.length + varintLength(value));
  header.copy(buf);
  writeVarint(buf, header.length, value);
  return buf;
}

function bytesField(field: number, data: Buffer): Buffer {
  const { buf, offset } = lenField(field, data.length);
  data.copy(buf, offset);
  return buf;
}

function encodeExecStart(frame: ExecStartFrame): Buffer {
  const parts = [stringField(1, frame.session), stringField(2, frame.vmUid)];
  for (const arg of frame.argv) {
    parts.push(stringElement(3, arg));
  }
  parts.push(
    varintField(4, frame.interactive ? 1 : 0),
    varintField(5, frame.tty ? 1 : 0),
    varintField(6, frame.rows),
    varintField(7, frame.cols),
  );
  for (const [key, value] of Object.entries(frame.env)) {
    parts.push(message(8, Buffer.concat([stringElement(1, key), stringElement(2, value)])));
  }
  parts.push(
    stringField(9, frame.workdir),
    stringField(10, frame.username),
    stringField(11, frame.password),
    stringField(EXEC_START_TRACEPARENT, frame.traceparent ?? ''),
  );
  return message(EXEC_START, Buffer.concat(parts));
}

/** `TunnelOpen.target`: `unknown` is written as a target whose oneof is unset. */
function encodeTarget(target: TunnelTargetKind, hostProcess: string | undefined): Buffer {
  switch (target) {
    case 'tart-guest-agent':
      return message(OPEN_TARGET, message(TARGET_TART_GUEST_AGENT, Buffer.alloc(0)));
    case 'host-process':
      return message(OPEN_TARGET, message(TARGET_HOST_PROCESS, stringField(1, hostProcess ?? '')));
    case 'unknown':
      return message(OPEN_TARGET, Buffer.alloc(0));
  }
}

function message(field: number, body: Buffer): Buffer {
  const { buf, offset } = lenField(field, body.length);
  body.copy(buf, offset);
  return buf;
}

/** The field header of a data frame carrying `length` bytes: the frame's encoding is this header, then the data. */
export function dataFrameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(1 + varintLength(length));
  writeVarint(header, writeVarint(header, 0, (DATA << 3) | LEN), length);
  return header;
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
        frame.target === undefined ? Buffer.alloc(0) : encodeTarget(frame.target, frame.hostProcess),
        stringField(OPEN_TRACEPARENT, frame.traceparent ?? ''),
      ]);
      return message(OPEN, body);
    }
    case 'closeWrite':
      return message(CLOSE_WRITE, Buffer.alloc(0));
    case 'error':
      return message(ERROR, stringField(1, frame.message));
    case 'opened':
      return message(OPENED, Buffer.alloc(0));
    case 'execStart':
      return encodeExecStart(frame);
    case 'stdin':
      return message(EXEC_INPUT, bytesField(INPUT_STDIN, frame.data));
    case 'resize':
      return message(
        EXEC_INPUT,
        message(INPUT_RESIZE, Buffer.concat([varintField(1, frame.rows), varintField(2, frame.cols)])),
      );
    case 'execStarted':
      return message(EXEC_OUTPUT, message(OUTPUT_STARTED, stringField(1, frame.via)));
    case 'stdout':
      return message(EXEC_OUTPUT, bytesField(OUTPUT_STDOUT, frame.data));
    case 'stderr':
      return message(EXEC_OUTPUT, bytesField(OUTPUT_STDERR, frame.data));
    case 'exit':
      return message(EXEC_OUTPUT, message(OUTPUT_EXIT, varintField(1, frame.code)));
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

  /** An int32 varint: protobuf writes negative values as their 64-bit two's complement. */
  int32(): number {
    return Number(BigInt.asIntN(32, this.varint64()));
  }

  private varint64(): bigint {
    let value = 0n;
    let shift = 0n;
    for (;;) {
      if (this.offset >= this.buf.length) {
        throw new Error('truncated varint in tunnel frame');
      }
      const byte = this.buf[this.offset++];
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        return value;
      }
      shift += 7n;
      if (shift > 63n) {
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

/** `TunnelOpen.target`: a oneof value this version does not know (or none) is `unknown`. */
function decodeTarget(buf: Buffer): { target: TunnelTargetKind; hostProcess?: string } {
  let decoded: { target: TunnelTargetKind; hostProcess?: string } = { target: 'unknown' };
  eachField(buf, (reader, field, wireType) => {
    if (wireType !== LEN) {
      return false;
    }
    // The last oneof member on the wire wins, as in protobuf; one this version does not know makes the target unknown.
    const body = reader.bytes();
    if (field === TARGET_TART_GUEST_AGENT) {
      decoded = { target: 'tart-guest-agent' };
    } else if (field === TARGET_HOST_PROCESS) {
      decoded = { target: 'host-process', hostProcess: decodeHostProcessName(body) };
    } else {
      decoded = { target: 'unknown' };
    }
    return true;
  });
  return decoded;
}

/** `TunnelHostProcess.name`. */
function decodeHostProcessName(buf: Buffer): string {
  let name = '';
  eachField(buf, (reader, field, wireType) => {
    if (field !== 1 || wireType !== LEN) {
      return false;
    }
    name = reader.bytes().toString('utf8');
    return true;
  });
  return name;
}

function decodeOpen(buf: Buffer): TunnelFrame {
  const reader = new Reader(buf);
  const frame: Extract<TunnelFrame, { kind: 'open' }> = { kind: 'open', session: '', vmUid: '', port: 0 };
  while (!reader.done) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    if (field === 1 && (tag & 7) === LEN) {
      frame.session = reader.bytes().toString('utf8');
    } else if (field === 2 && (tag & 7) === LEN) {
      frame.vmUid = reader.bytes().toString('utf8');
    } else if (field === 3 && (tag & 7) === VARINT) {
      frame.port = reader.varint();
    } else if (field === OPEN_TARGET && (tag & 7) === LEN) {
      const { target, hostProcess } = decodeTarget(reader.bytes());
      frame.target = target;
      if (hostProcess !== undefined) {
        frame.hostProcess = hostProcess;
      }
    } else if (field === OPEN_TRACEPARENT && (tag & 7) === LEN) {
      frame.traceparent = reader.bytes().toString('utf8');
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

/** Calls `onField(field, wireType)` for each field of a message; the callback reads the value or skips it. */
function eachField(buf: Buffer, onField: (reader: Reader, field: number, wireType: number) => boolean): void {
  const reader = new Reader(buf);
  while (!reader.done) {
    const tag = reader.varint();
    if (!onField(reader, Math.floor(tag / 8), tag & 7)) {
      reader.skip(tag & 7);
    }
  }
}

function decodeMapEntry(buf: Buffer): [string, string] {
  let key = '';
  let value = '';
  eachField(buf, (reader, field, wireType) => {
    if (wireType !== LEN || (field !== 1 && field !== 2)) {
      return false;
    }
    const text = reader.bytes().toString('utf8');
    if (field === 1) {
      key = text;
    } else {
      value = text;
    }
    return true;
  });
  return [key, value];
}

function decodeExecStart(buf: Buffer): TunnelFrame {
  const frame: { kind: 'execStart' } & ExecStartFrame = {
    kind: 'execStart',
    session: '',
    vmUid: '',
    argv: [],
    interactive: false,
    tty: false,
    rows: 0,
    cols: 0,
    env: {},
    workdir: '',
    username: '',
    password: '',
  };
  const strings = { 1: 'session', 2: 'vmUid', 9: 'workdir', 10: 'username', 11: 'password' } as const;
  eachField(buf, (reader, field, wireType) => {
    if (wireType === LEN && field in strings) {
      frame[strings[field as keyof typeof strings]] = reader.bytes().toString('utf8');
    } else if (wireType === LEN && field === 3) {
      frame.argv.push(reader.bytes().toString('utf8'));
    } else if (wireType === LEN && field === EXEC_START_TRACEPARENT) {
      frame.traceparent = reader.bytes().toString('utf8');
    } else if (wireType === LEN && field === 8) {
      const [key, value] = decodeMapEntry(reader.bytes());
      frame.env[key] = value;
    } else if (wireType === VARINT && field === 4) {
      frame.interactive = reader.varint() !== 0;
    } else if (wireType === VARINT && field === 5) {
      frame.tty = reader.varint() !== 0;
    } else if (wireType === VARINT && field === 6) {
      frame.rows = reader.varint();
    } else if (wireType === VARINT && field === 7) {
      frame.cols = reader.varint();
    } else {
      return false;
    }
    return true;
  });
  return frame;
}

/** The uint32 fields 1 and 2 of a small message (a terminal size). */
function decodeSize(buf: Buffer): { rows: number; cols: number } {
  const size = { rows: 0, cols: 0 };
  eachField(buf, (reader, field, wireType) => {
    if (wireType !== VARINT || (field !== 1 && field !== 2)) {
      return false;
    }
    size[field === 1 ? 'rows' : 'cols'] = reader.varint();
    return true;
  });
  return size;
}

function decodeExecInput(buf: Buffer): TunnelFrame | undefined {
  let frame: TunnelFrame | undefined;
  eachField(buf, (reader, field, wireType) => {
    if (wireType !== LEN) {
      return false;
    }
    if (field === INPUT_STDIN) {
      frame = { kind: 'stdin', data: reader.bytes() };
    } else if (field === INPUT_RESIZE) {
      frame = { kind: 'resize', ...decodeSize(reader.bytes()) };
    } else {
      return false;
    }
    return true;
  });
  return frame;
}

function decodeExecOutput(buf: Buffer): TunnelFrame | undefined {
  let frame: TunnelFrame | undefined;
  eachField(buf, (reader, field, wireType) => {
    if (wireType !== LEN) {
      return false;
    }
    if (field === OUTPUT_STDOUT) {
      frame = { kind: 'stdout', data: reader.bytes() };
    } else if (field === OUTPUT_STDERR) {
      frame = { kind: 'stderr', data: reader.bytes() };
    } else if (field === OUTPUT_STARTED) {
      let via = '';
      eachField(reader.bytes(), (inner, f, w) => {
        if (f !== 1 || w !== LEN) {
          return false;
        }
        via = inner.bytes().toString('utf8');
        return true;
      });
      frame = { kind: 'execStarted', via };
    } else if (field === OUTPUT_EXIT) {
      let code = 0;
      eachField(reader.bytes(), (inner, f, w) => {
        if (f !== 1 || w !== VARINT) {
          return false;
        }
        code = inner.int32();
        return true;
      });
      frame = { kind: 'exit', code };
    } else {
      return false;
    }
    return true;
  });
  return frame;
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
    } else if (field === EXEC_START && wireType === LEN) {
      frame = decodeExecStart(reader.bytes());
    } else if (field === EXEC_INPUT && wireType === LEN) {
      frame = decodeExecInput(reader.bytes());
    } else if (field === EXEC_OUTPUT && wireType === LEN) {
      frame = decodeExecOutput(reader.bytes());
    } else {
      reader.skip(wireType);
    }
  }
  return frame;
}
