import { Global, Module } from '@nestjs/common';
import { ClusterBus } from './cluster-bus';
import { RelayClient } from './relay-client';
import { ReplicaRegistry } from './replica-registry';
import { UpgradeForwarder } from './upgrade-forwarder';

/**
 * What makes several controllers one cluster (docs/high-availability.md): the replica registry in Postgres, the
 * notification bus between replicas and the client side of session relays. Global: the change bus, the scheduling
 * trigger and the worker sessions all forward through it.
 */
@Global()
@Module({
  providers: [ReplicaRegistry, ClusterBus, RelayClient, UpgradeForwarder],
  exports: [ReplicaRegistry, ClusterBus, RelayClient, UpgradeForwarder],
})
export class ClusterModule {}
