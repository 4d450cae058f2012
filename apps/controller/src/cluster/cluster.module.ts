import { Global, Module } from '@nestjs/common';
import { ClusterBus } from './cluster-bus';
import { RelayClient } from './relay-client';
import { ReplicaRegistry } from './replica-registry';

/**
 * What makes several controllers one cluster (docs/high-availability.md): the replica registry in Postgres, the
 * notification bus between replicas and the client side of session relays. Global: the change bus, the scheduling
 * trigger and the worker sessions all forward through it.
 */
@Global()
@Module({
  providers: [ReplicaRegistry, ClusterBus, RelayClient],
  exports: [ReplicaRegistry, ClusterBus, RelayClient],
})
export class ClusterModule {}
