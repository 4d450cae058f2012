import { Injectable } from '@nestjs/common';
import { normalizeSshKeyFingerprint, sshKeyFingerprint, type ServiceAccount, type SshKey } from '@grove/resources';
import { DomainError } from '../common/domain-error';
import type { ServiceAccountSshKeyEntity } from './service-account-ssh-key.entity';
import { ServiceAccountSshKeyRepository } from './service-account-ssh-key.repository';
import { toServiceAccountResource } from './service-account.mapper';
import { ServiceAccountRepository } from './service-account.repository';
import { MAX_SSH_KEY_COMMENT_LENGTH, parsePublicKeyLine } from './ssh-public-key';

export function toSshKeyResource(entity: ServiceAccountSshKeyEntity): SshKey {
  return {
    fingerprint: entity.fingerprint,
    type: entity.type,
    publicKey: `${entity.type} ${entity.blob.toString('base64')}`,
    comment: entity.comment,
    createdAt: entity.createdAt.toISOString(),
  };
}

/** SSH public keys of service accounts: what the SSH gateway accepts instead of a token. */
@Injectable()
export class ServiceAccountSshKeyService {
  constructor(
    private readonly keys: ServiceAccountSshKeyRepository,
    private readonly accounts: ServiceAccountRepository,
  ) {}

  async list(account: string): Promise<SshKey[]> {
    await this.requireAccount(account);
    return (await this.keys.list(account)).map(toSshKeyResource);
  }

  /** Attaches a key: 400 naming the field when it is not one OpenSSH public key, 409 when it is attached already. */
  async add(account: string, input: { publicKey: string; comment?: string }): Promise<SshKey> {
    await this.requireAccount(account);
    const parsed = parsePublicKeyLine(input.publicKey);
    if (Array.isArray(parsed)) {
      throw DomainError.invalid(parsed);
    }
    const comment = input.comment ?? parsed.comment;
    if (comment.length > MAX_SSH_KEY_COMMENT_LENGTH) {
      throw DomainError.invalid([
        {
          field: input.comment === undefined ? 'publicKey' : 'comment',
          message: `the comment must be at most ${MAX_SSH_KEY_COMMENT_LENGTH} characters long`,
        },
      ]);
    }
    const entity: ServiceAccountSshKeyEntity = {
      serviceAccount: account,
      fingerprint: parsed.fingerprint,
      type: parsed.type,
      blob: parsed.blob,
      comment,
      createdAt: new Date(),
    };
    switch (await this.keys.insert(entity)) {
      case 'inserted':
        return toSshKeyResource(entity);
      case 'duplicate':
        throw DomainError.conflict(
          `publicKey: the key ${parsed.fingerprint} is already attached to service account "${account}"`,
        );
      case 'no-account':
        throw DomainError.notFound(`service account "${account}"`);
    }
  }

  async remove(account: string, fingerprint: string): Promise<void> {
    await this.requireAccount(account);
    const normalized = normalizeSshKeyFingerprint(fingerprint);
    if (!(await this.keys.delete(account, normalized))) {
      throw DomainError.notFound(`SSH key ${normalized} of service account "${account}"`);
    }
  }

  /**
   * The account when `blob` (a key in the SSH wire encoding, from a login) is attached to it; undefined otherwise.
   * The caller still verifies the client's signature with the key.
   */
  async accountForKey(account: string, blob: Buffer): Promise<ServiceAccount | undefined> {
    const entity = await this.keys.find(account, sshKeyFingerprint(blob));
    if (!entity || !entity.blob.equals(blob)) {
      return undefined;
    }
    const owner = await this.accounts.find(account);
    return owner ? toServiceAccountResource(owner) : undefined;
  }

  private async requireAccount(name: string): Promise<void> {
    if (!(await this.accounts.find(name))) {
      throw DomainError.notFound(`service account "${name}"`);
    }
  }
}
