import { createHmac, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ReplicaRegistry } from '../cluster/replica-registry';

/**
 * The key preview tokens are signed with, the same on every replica: derived from the cluster's relay token (a random
 * secret in `cluster_secrets`, readable only through the database) rather than the token itself, so that a preview
 * signature reveals nothing usable for relays. Before the replica joined the cluster (in-process tests), a key of
 * this process alone.
 */
@Injectable()
export class PreviewKey {
  private readonly processSecret = randomBytes(32);
  private derivedFrom: string | Buffer | undefined;
  private derived = Buffer.alloc(0);

  constructor(private readonly replicas: ReplicaRegistry) {}

  get(): Buffer {
    const secret = this.replicas.relayToken === '' ? this.processSecret : this.replicas.relayToken;
    if (secret !== this.derivedFrom) {
      this.derived = createHmac('sha256', secret).update('grove preview tokens v1').digest();
      this.derivedFrom = secret;
    }
    return this.derived;
  }
}
