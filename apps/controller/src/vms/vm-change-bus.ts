import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import type { Vm } from '@grove/resources';

export interface VmChange {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  vm: Vm;
}

/**
 * In-process notification of committed VM changes. A single controller needs nothing else, and PGlite could not
 * deliver LISTEN/NOTIFY across connections anyway (ARCHITECTURE.md decision 2).
 */
@Injectable()
export class VmChangeBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per open watch stream; thousands are legitimate.
    this.emitter.setMaxListeners(0);
  }

  publish(change: VmChange): void {
    this.emitter.emit(change.vm.name, change);
  }

  /** Calls `listener` for every change of the VM named `name`; returns the unsubscribe function. */
  subscribe(name: string, listener: (change: VmChange) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }
}
