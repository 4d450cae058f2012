import type { Socket } from 'node:net';
import type { SyntheticRuntime } from '../runtime/synthetic/synthetic-runtime';
import type { GuestAgentAddress, VmRunOptions } from '../runtime/vm-runtime';
import { bootSyntheticVm, runOptions } from './run-options';

/**
 * VMs booted on a synthetic runtime under uids, and the lookups by uid that ExecServer and TunnelServer take (the
 * reconciler's part in a worker): a uid that was not booted here is "not running on this worker".
 */
export class SyntheticVms {
  private readonly names = new Map<string, string>();
  private serial = 0;

  /** `uidPrefix`: the first 24 characters of the uids (a serial number completes them). */
  constructor(
    private readonly runtime: SyntheticRuntime,
    private readonly uidPrefix: string,
    private readonly run: VmRunOptions = runOptions(),
  ) {}

  /** Boots a VM of `image`; resolves with its uid once it has booted. */
  async boot(image: string, signal: AbortSignal): Promise<string> {
    const serial = ++this.serial;
    const uid = `${this.uidPrefix}${String(serial).padStart(12, '0')}`;
    const name = `grove-vm${serial}-${uid}-0`;
    await bootSyntheticVm(this.runtime, image, name, signal, this.run);
    this.names.set(uid, name);
    return uid;
  }

  /** The on-disk name of a VM booted here. */
  name(uid: string): string | undefined {
    return this.names.get(uid);
  }

  readonly guestAgent = (vmUid: string): GuestAgentAddress => {
    const name = this.names.get(vmUid);
    if (!name) {
      throw new Error(`VM with uid ${vmUid} is not running on this worker`);
    }
    return this.runtime.guestAgent(name);
  };

  readonly connectVm = (vmUid: string, port: number, signal: AbortSignal): Promise<Socket> =>
    this.runtime.connect(this.names.get(vmUid) ?? 'none', port, signal);
}
