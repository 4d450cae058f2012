import { Injectable } from '@nestjs/common';
import { ROLES, type Role, type ServiceAccount } from '@grove/resources';
import { ServiceAccountCache } from '../common/auth/service-account-cache';
import { generateToken, hashToken, TokenVerifier } from '../common/auth/token-hash';
import { isStorableText } from '../common/storable-text';
import { DomainError } from '../common/domain-error';
import { toServiceAccountResource } from './service-account.mapper';
import { ServiceAccountRepository } from './service-account.repository';

export const BOOTSTRAP_ADMIN = 'bootstrap-admin';

@Injectable()
export class ServiceAccountService {
  private readonly verifier = new TokenVerifier();

  constructor(
    private readonly repository: ServiceAccountRepository,
    private readonly cache: ServiceAccountCache,
  ) {}

  /** The account whose name and token match, or undefined. Runs the hash check even for unknown names. */
  async authenticate(name: string, token: string): Promise<ServiceAccount | undefined> {
    // A name Postgres cannot hold (a NUL from the Authorization header) is no account's: not looked up (issue 12).
    const entity = isStorableText(name) ? await this.cache.find(name, (n) => this.repository.find(n)) : undefined;
    // Compare against a throwaway hash for unknown names so that timing does not reveal which names exist.
    const ok = await this.verifier.verify(token, entity?.tokenHash ?? DUMMY_HASH);
    return entity && ok ? toServiceAccountResource(entity) : undefined;
  }

  async create(input: { name: string; roles: Role[]; token?: string }): Promise<ServiceAccount> {
    const token = input.token && input.token !== '' ? input.token : generateToken();
    const entity = { name: input.name, roles: input.roles, tokenHash: await hashToken(token), createdAt: new Date() };
    if (!(await this.repository.insert(entity))) {
      throw DomainError.conflict('service account with this name already exists');
    }
    return toServiceAccountResource(entity, token);
  }

  async list(): Promise<ServiceAccount[]> {
    return (await this.repository.list()).map((e) => toServiceAccountResource(e));
  }

  async get(name: string): Promise<ServiceAccount> {
    const entity = await this.repository.find(name);
    if (!entity) {
      throw DomainError.notFound(`service account "${name}"`);
    }
    return toServiceAccountResource(entity);
  }

  /** Replaces roles and token (Orchard's PUT); the new token is returned once. */
  async update(name: string, input: { roles: Role[]; token: string }): Promise<ServiceAccount> {
    const updated = await this.repository.update(name, input.roles, await hashToken(input.token));
    this.cache.forget(name);
    if (!updated) {
      throw DomainError.notFound(`service account "${name}"`);
    }
    return toServiceAccountResource((await this.repository.find(name))!, input.token);
  }

  async delete(name: string): Promise<void> {
    const deleted = await this.repository.delete(name);
    this.cache.forget(name);
    if (!deleted) {
      throw DomainError.notFound(`service account "${name}"`);
    }
  }

  /**
   * First start (no accounts) creates `bootstrap-admin` with every role and a generated token; a configured token
   * (GROVE_BOOTSTRAP_ADMIN_TOKEN) is applied on every start. Returns the token to print, or undefined when nothing
   * was created.
   */
  async bootstrap(configuredToken: string | undefined): Promise<{ token: string; generated: boolean } | undefined> {
    if (configuredToken !== undefined) {
      await this.repository.upsert({
        name: BOOTSTRAP_ADMIN,
        roles: [...ROLES],
        tokenHash: await hashToken(configuredToken),
        createdAt: (await this.repository.find(BOOTSTRAP_ADMIN))?.createdAt ?? new Date(),
      });
      this.cache.forget(BOOTSTRAP_ADMIN);
      return { token: configuredToken, generated: false };
    }
    if ((await this.repository.count()) > 0) {
      return undefined;
    }
    const token = generateToken();
    const created = await this.repository.insert({
      name: BOOTSTRAP_ADMIN,
      roles: [...ROLES],
      tokenHash: await hashToken(token),
      createdAt: new Date(),
    });
    return created ? { token, generated: true } : undefined;
  }
}

const DUMMY_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
