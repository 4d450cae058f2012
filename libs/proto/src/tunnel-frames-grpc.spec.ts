import type { MethodDefinition } from '@grpc/grpc-js';
import { encodeTunnelFrame, type TunnelFrame } from './tunnel-frames';
import { replicaServiceDefinition, workerServiceDefinition } from './tunnel-frames-grpc';

/** What grpc-js does with a serialized message before it sends it: one copy behind its 5-byte prefix. */
function framedAsGrpcDoes(serialized: Buffer, length: number): Buffer {
  const output = Buffer.alloc(length + 5);
  output.writeUInt32BE(length, 1);
  serialized.copy(output, 5);
  return output.subarray(5);
}

describe('tunnel frames on gRPC calls', () => {
  const methods = [workerServiceDefinition()['Tunnel'], replicaServiceDefinition()['Relay']] as MethodDefinition<
    TunnelFrame,
    TunnelFrame
  >[];
  const frames: TunnelFrame[] = [
    { kind: 'data', data: Buffer.from('hello') },
    { kind: 'data', data: Buffer.alloc(64 * 1024, 7) },
    { kind: 'data', data: Buffer.alloc(0) },
    { kind: 'window', bytes: 262144 },
    { kind: 'open', session: 's', vmUid: 'u', port: 22 },
  ];

  it.each(frames.map((frame) => [frame.kind, frame] as const))(
    'serializes a %s frame to the bytes of its protobuf encoding, both ways and on both services',
    (_kind, frame) => {
      const expected = encodeTunnelFrame(frame);
      for (const method of methods) {
        for (const serialize of [method.requestSerialize, method.responseSerialize]) {
          const serialized = serialize(frame);
          expect(serialized.length).toBe(expected.length);
          expect(serialized.byteLength).toBe(expected.length);
          expect(framedAsGrpcDoes(serialized, serialized.length).equals(expected)).toBe(true);
          expect(method.requestDeserialize(expected)).toEqual(frame);
        }
      }
    },
  );
});
