import { EventEmitter } from 'node:events';
import { Injectable, Logger } from '@nestjs/common';
import type { Vm } from '@grove/resources';
import { ClusterBus, type ClusterMessage } from '../cluster/cluster-bus';
import { VmRepository } from './vm.repository';

export interface VmChange {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  vm: Vm;
}

const VM_CHANGE = 'vm-change';
/** The emitter's event of every VM's changes (a symbol: no VM name can collide with it). */
const EVERY_VM = Symbol('every-vm');

/**
 * Notification of committed VM changes: in-process for this replica's watch streams and waiting sessions, and through
 * the cluster bus (Postgres LISTEN/NOTIFY) for the other replicas' (ARCHITECTURE.md decision 2: a single controller,
 * and PGlite, need nothing but the process). A change whose document is too large for a notification travels as its
 * name and is read back by the replicas that receive it.
 */
@Injectable()
export class VmChangeBus {
  private readonly logger = new Logger(VmChangeBus.name);
  private readonly emitter = new EventEmitter();

  constructor(
    private readonly cluster: ClusterBus,
    private readonly repository: VmRepository,
  ) {
    // One listener per open watch stream; thousands are legitimate.
    this.emitter.setMaxListeners(0);
    cluster.on(VM_CHANGE, (message) => void this.fromOtherReplica(message));
  }

  publish(change: VmChange): void {
    this.emitter.emit(change.vm.name, change);
    this.emitter.emit(EVERY_VM, change);
    if (!this.cluster.publish(VM_CHANGE, { type: change.type, vm: change.vm })) {
      const { name, uid, version } = change.vm;
      this.cluster.publish(VM_CHANGE, { type: change.type, name, uid, version });
    }
  }

  /** Calls `listener` for every change of the VM named `name`; returns the unsubscribe function. */
  subscribe(name: string, listener: (change: VmChange) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  /** Calls `listener` for every change of every VM (the fleet watch); returns the unsubscribe function. */
  subscribeAll(listener: (change: VmChange) => void): () => void {
    this.emitter.on(EVERY_VM, listener);
    return () => this.emitter.off(EVERY_VM, listener);
  }

  private async fromOtherReplica(message: ClusterMessage): Promise<void> {
    const type = message['type'] as VmChange['type'];
    let vm = message['vm'] as Vm | undefined;
    if (!vm) {
      const name = String(message['name']);
      if (type === 'DELETED') {
        vm = { name, uid: message['uid'], version: message['version'] } as Vm;
      } else {
        try {
          vm = await this.repository.find(name);
        } catch (err) {
          this.logger.warn(`could not read VM "${name}" changed by another replica: ${(err as Error).message}`);
        }
      }
    }
    if (vm) {
      this.emitter.emit(vm.name, { type, vm });
      this.emitter.emit(EVERY_VM, { type, vm });
    }
  }
}
