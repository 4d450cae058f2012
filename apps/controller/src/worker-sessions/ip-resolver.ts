import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { RelayClient } from '../cluster/relay-client';
import { ReplicaRegistry } from '../cluster/replica-registry';
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

  constructor(
    private readonly registry: WorkerSessionRegistry,
    private readonly replicas: ReplicaRegistry,
    private readonly relays: RelayClient,
  ) {}

  /**
   * The IP of the VM incarnation `vmUid` on `workerName`, asked over the worker's session here or through the
   * replica that holds it. Throws TunnelUnavailableError when the worker is not connected or does not answer within
   * `timeoutMs`, and IpResolutionError with the worker's reason when it answers without an address.
   */
  async resolve(workerName: string, vmUid: string, timeoutMs: number): Promise<string> {
    if (this.registry.isConnected(workerName)) {
      return this.resolveLocal(workerName, vmUid, timeoutMs);
    }
    const location = await this.replicas.locate(workerName).catch(() => undefined);
    if (!location?.up || location.replica === this.replicas.name || location.relayAddress === '') {
      throw new TunnelUnavailableError(`worker "${workerName}" is not connected to the controller`);
    }
    let result;
    try {
      result = await this.relays.resolveIp(location.relayAddress, workerName, vmUid, timeoutMs);
    } catch (err) {
      const reason = (err as Error & { details?: string }).details || (err as Error).message;
      throw new TunnelUnavailableError(`replica "${location.replica}" could not ask worker "${workerName}": ${reason}`);
    }
    if (!result.ip) {
      throw new IpResolutionError(result.error || 'the worker reported no address');
    }
    return result.ip;
  }

  /** As `resolve`, over a session held by this replica only (relays are never relayed again). */
  resolveLocal(workerName: string, vmUid: string, timeoutMs: number): Promise<string> {
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
