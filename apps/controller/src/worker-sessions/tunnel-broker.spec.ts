import { EventEmitter } from 'node:events';
import type { RelayCall, RelayClient } from '../cluster/relay-client';
import type { ReplicaRegistry } from '../cluster/replica-registry';
import { TunnelBroker } from './tunnel-broker';
import type { WorkerSessionRegistry } from './worker-session.registry';

/** A broker whose worker is connected to another replica, reached through a relay call the test controls. */
function brokerRelayingTo(call: EventEmitter): TunnelBroker {
  const registry = { onRemoved: () => undefined, isConnected: () => false } as unknown as WorkerSessionRegistry;
  const replicas = {
    name: 'ctl-a',
    locate: () => Promise.resolve({ up: true, replica: 'ctl-b', relayAddress: '127.0.0.1:1' }),
  } as unknown as ReplicaRegistry;
  const relays = { openTunnel: () => call as unknown as RelayCall } as unknown as RelayClient;
  return new TunnelBroker(registry, replicas, relays);
}

function fakeRelayCall(): EventEmitter & { cancel: () => void } {
  return Object.assign(new EventEmitter(), { cancel: () => undefined });
}

describe('TunnelBroker relays', () => {
  it('hands over the relay once the holding replica answers with its headers', async () => {
    const call = fakeRelayCall();
    const taken = brokerRelayingTo(call).take('mac-1', 5_000);
    await new Promise((resolve) => setImmediate(resolve));
    call.emit('metadata', {});
    await expect(taken).resolves.toBe(call);
  });

  it('survives a relay failing after the session let go of it (a replica closing its relay clients on shutdown)', async () => {
    const call = fakeRelayCall();
    const taken = brokerRelayingTo(call).take('mac-1', 5_000);
    await new Promise((resolve) => setImmediate(resolve));
    call.emit('metadata', {});
    const link = await taken;
    // The session's own listener comes and goes with the session.
    const sessionListener = jest.fn();
    link.on('error', sessionListener);
    link.off('error', sessionListener);
    // Without a listener left, EventEmitter throws the error: in the controller, an uncaught exception ending it.
    expect(() =>
      call.emit('error', Object.assign(new Error('1 CANCELLED: Channel closed'), { code: 1 })),
    ).not.toThrow();
  });
});
