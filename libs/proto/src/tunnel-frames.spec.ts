import { randomBytes } from 'node:crypto';
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import { decodeTunnelFrame, encodeTunnelFrame, type TunnelFrame } from './tunnel-frames';
import { PROTO_DIR, WORKER_PROTO } from './worker-protocol';

/** protobufjs's codec of TunnelFrame, from the .proto, to check the hand-written one against. */
function referenceCodec(): MethodDefinition<object, object> {
  const definition = loadSync(WORKER_PROTO, {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    defaults: false,
    oneofs: true,
  });
  const service = definition['grove.worker.v1.WorkerService'] as Record<string, MethodDefinition<object, object>>;
  return service['Tunnel'];
}

/** A W3C trace context as the controller puts it in `open` and `execStart` frames (issue 14). */
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const cases: [TunnelFrame, object][] = [
  [{ kind: 'data', data: Buffer.from('hello') }, { data: Buffer.from('hello') }],
  [{ kind: 'data', data: Buffer.alloc(0) }, { data: Buffer.alloc(0) }],
  [{ kind: 'window', bytes: 262_144 }, { window: 262_144 }],
  [{ kind: 'window', bytes: 4_294_967_295 }, { window: 4_294_967_295 }],
  [
    { kind: 'open', session: 's-1', vmUid: '3e6f0c2a-uid', port: 5900 },
    { open: { session: 's-1', vm_uid: '3e6f0c2a-uid', port: 5900 } },
  ],
  [{ kind: 'open', session: 's-2', vmUid: '', port: 22 }, { open: { session: 's-2', port: 22 } }],
  [
    { kind: 'open', session: 's-3', vmUid: 'uid-3', port: 0, target: 'tart-guest-agent' },
    { open: { session: 's-3', vm_uid: 'uid-3', target: { tart_guest_agent: {} } } },
  ],
  [
    { kind: 'open', session: 's-5', vmUid: 'uid-5', port: 0, target: 'host-process', hostProcess: 'echo' },
    { open: { session: 's-5', vm_uid: 'uid-5', target: { host_process: { name: 'echo' } } } },
  ],
  // A target whose oneof is unset (or set to a member this version does not know) is one the worker must refuse.
  [
    { kind: 'open', session: 's-4', vmUid: 'uid-4', port: 0, target: 'unknown' },
    { open: { session: 's-4', vm_uid: 'uid-4', target: {} } },
  ],
  [
    {
      kind: 'open',
      session: 's-6',
      vmUid: 'uid-6',
      port: 0,
      target: 'host-process',
      hostProcess: 'echo',
      traceparent: TRACEPARENT,
    },
    { open: { session: 's-6', vm_uid: 'uid-6', target: { host_process: { name: 'echo' } }, traceparent: TRACEPARENT } },
  ],
  [
    { kind: 'open', session: 's-7', vmUid: 'uid-7', port: 8080, traceparent: TRACEPARENT },
    { open: { session: 's-7', vm_uid: 'uid-7', port: 8080, traceparent: TRACEPARENT } },
  ],
  [{ kind: 'closeWrite' }, { close_write: {} }],
  [
    { kind: 'error', message: 'connection refused — port 5900' },
    { error: { message: 'connection refused — port 5900' } },
  ],
  [{ kind: 'opened' }, { opened: {} }],
  [
    {
      kind: 'execStart',
      session: 'e-1',
      vmUid: 'uid-1',
      argv: ['sh', '-c', 'echo "$FOO" >&2', ''],
      interactive: true,
      tty: true,
      rows: 24,
      cols: 80,
      env: { FOO: "O'Reilly", EMPTY: '' },
      workdir: '/tmp',
      username: 'admin',
      password: 'pässword',
    },
    {
      exec_start: {
        session: 'e-1',
        vm_uid: 'uid-1',
        argv: ['sh', '-c', 'echo "$FOO" >&2', ''],
        interactive: true,
        tty: true,
        rows: 24,
        cols: 80,
        env: { FOO: "O'Reilly", EMPTY: '' },
        workdir: '/tmp',
        username: 'admin',
        password: 'pässword',
      },
    },
  ],
  [
    {
      kind: 'execStart',
      session: 'e-2',
      vmUid: 'uid-2',
      argv: ['true'],
      interactive: false,
      tty: false,
      rows: 0,
      cols: 0,
      env: {},
      workdir: '',
      username: '',
      password: '',
    },
    { exec_start: { session: 'e-2', vm_uid: 'uid-2', argv: ['true'] } },
  ],
  [
    {
      kind: 'execStart',
      session: 'e-3',
      vmUid: 'uid-3',
      argv: ['uname'],
      interactive: false,
      tty: false,
      rows: 0,
      cols: 0,
      env: {},
      workdir: '',
      username: 'admin',
      password: 'admin',
      traceparent: TRACEPARENT,
    },
    {
      exec_start: {
        session: 'e-3',
        vm_uid: 'uid-3',
        argv: ['uname'],
        username: 'admin',
        password: 'admin',
        traceparent: TRACEPARENT,
      },
    },
  ],
  [{ kind: 'stdin', data: Buffer.from('line\n') }, { exec_input: { stdin: Buffer.from('line\n') } }],
  [{ kind: 'stdin', data: Buffer.alloc(0) }, { exec_input: { stdin: Buffer.alloc(0) } }],
  [{ kind: 'resize', rows: 40, cols: 120 }, { exec_input: { resize: { rows: 40, cols: 120 } } }],
  [{ kind: 'execStarted', via: 'agent' }, { exec_output: { started: { via: 'agent' } } }],
  [{ kind: 'stdout', data: Buffer.from('out') }, { exec_output: { stdout: Buffer.from('out') } }],
  [{ kind: 'stderr', data: Buffer.from('err') }, { exec_output: { stderr: Buffer.from('err') } }],
  [{ kind: 'exit', code: 7 }, { exec_output: { exit: { code: 7 } } }],
  [{ kind: 'exit', code: 0 }, { exec_output: { exit: {} } }],
  [{ kind: 'exit', code: -1 }, { exec_output: { exit: { code: -1 } } }],
];

describe('tunnel frame codec', () => {
  const reference = referenceCodec();

  it.each(cases)('encodes %o exactly as protobuf does', (frame, message) => {
    expect(encodeTunnelFrame(frame).equals(reference.requestSerialize(message))).toBe(true);
  });

  it.each(cases)('decodes the protobuf encoding of %o', (frame, message) => {
    expect(decodeTunnelFrame(reference.requestSerialize(message))).toEqual(frame);
  });

  it('decodes a target member it does not know as unknown', () => {
    // TunnelOpen{session "s", target: TunnelTarget{field 3 (a later member): {field 1: "x"}}}.
    const open = Buffer.from([0x0a, 0x01, 0x73, 0x22, 0x05, 0x1a, 0x03, 0x0a, 0x01, 0x78]);
    expect(decodeTunnelFrame(Buffer.concat([Buffer.from([0x0a, open.length]), open]))).toEqual({
      kind: 'open',
      session: 's',
      vmUid: '',
      port: 0,
      target: 'unknown',
    });
  });

  it('decodes the frames of a controller that does not trace without a traceparent', () => {
    const open = decodeTunnelFrame(reference.requestSerialize({ open: { session: 's', vm_uid: 'u', port: 22 } }));
    const exec = decodeTunnelFrame(reference.requestSerialize({ exec_start: { session: 'e', argv: ['true'] } }));
    expect(open).not.toHaveProperty('traceparent');
    expect(exec).not.toHaveProperty('traceparent');
  });

  it('carries a 64 KiB data frame without copying on decode', () => {
    const data = randomBytes(64 * 1024);
    const encoded = encodeTunnelFrame({ kind: 'data', data });
    const decoded = decodeTunnelFrame(encoded);
    expect(decoded?.kind === 'data' && decoded.data.equals(data)).toBe(true);
    expect(decoded?.kind === 'data' && decoded.data.buffer).toBe(encoded.buffer);
  });

  it('ignores unknown fields and reports truncated input', () => {
    // Field 15 (varint 7), then a window frame: a newer peer's extra field must not break this version.
    expect(decodeTunnelFrame(Buffer.from([0x78, 0x07, 0x18, 0x05]))).toEqual({ kind: 'window', bytes: 5 });
    expect(decodeTunnelFrame(Buffer.alloc(0))).toBeUndefined();
    expect(() => decodeTunnelFrame(Buffer.from([0x12, 0x05, 0x01]))).toThrow(/truncated/);
  });
});
