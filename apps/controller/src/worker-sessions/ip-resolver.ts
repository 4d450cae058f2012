import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { WorkerSessionRegistry } from './worker-session.registry';
import { TunnelUnavailableError } from './tunnel-broker';

/** The worker answered, but could not tell the address (VM unknown there, no DHCP lease yet…). */
export class IpResolutionError extends Error {}

/**
 * Asks workers for VM addresses over their sessions (ResolveIp → ResolveIpResult) and pairs each answer with the
 * request waiting for it, by session id.
 */
@Injectable()
export class IpResolver {
  private readonly pending = new Map<string, (result: { ip: string; error: string }) => void>();

  constructor(private readonly registry: WorkerSessionRegistry) {}

  /**
   * The IP of the VM incarnation `vmUid` on `workerName`. Throws TunnelUnavailableError when the worker is not
   * connected or does not answer within `timeoutMs`, and IpResolutionError with the worker's reason when it answers
   * without an address.
   */
  resolve(workerName: string, vmUid: string, timeoutMs: number): Promise<string> {
    const session = randomUUID();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(session);
        reject(new TunnelUnavailableError(`worker "${workerName}" did not report the IP within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(session, (result) => {
        clearTimeout(timer);
        this.pending.delete(session);
        if (result.ip) {
          resolve(result.ip);
        } else {
          reject(new IpResolutionError(result.error || 'the worker reported no address'));
        }
      });
      if (!this.registry.notify(workerName, { resolve_ip: { session, vm_uid: vmUid } })) {
        clearTimeout(timer);
        this.pending.delete(session);
        reject(new TunnelUnavailableError(`worker "${workerName}" is not connected to the controller`));
      }
    });
  }

  /** Delivers a worker's ResolveIpResult; answers nobody waits for any more are dropped. */
  answer(result: { session: string; ip: string; error: string }): void {
    this.pending.get(result.session)?.(result);
  }
}
