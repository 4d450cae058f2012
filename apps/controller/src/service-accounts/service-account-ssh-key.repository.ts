import { Injectable } from '@nestjs/common';
import { DataSource, type Repository } from 'typeorm';
import { ServiceAccountSshKeyEntity } from './service-account-ssh-key.entity';

/** Postgres error code of a foreign-key violation: the account was deleted meanwhile. */
const FOREIGN_KEY_VIOLATION = '23503';

@Injectable()
export class ServiceAccountSshKeyRepository {
  private readonly repo: Repository<ServiceAccountSshKeyEntity>;

  constructor(dataSource: DataSource) {
    this.repo = dataSource.getRepository(ServiceAccountSshKeyEntity);
  }

  list(serviceAccount: string): Promise<ServiceAccountSshKeyEntity[]> {
    return this.repo.find({ where: { serviceAccount }, order: { createdAt: 'ASC', fingerprint: 'ASC' } });
  }

  find(serviceAccount: string, fingerprint: string): Promise<ServiceAccountSshKeyEntity | null> {
    return this.repo.findOneBy({ serviceAccount, fingerprint });
  }

  /** Inserts; `duplicate` when the account has this key already, `no-account` when the account does not exist. */
  async insert(entity: ServiceAccountSshKeyEntity): Promise<'inserted' | 'duplicate' | 'no-account'> {
    try {
      const result = await this.repo
        .createQueryBuilder()
        .insert()
        .values(entity)
        .orIgnore()
        .returning(['fingerprint'])
        .execute();
      return (result.raw as unknown[]).length > 0 ? 'inserted' : 'duplicate';
    } catch (err) {
      if ((err as { driverError?: { code?: string } }).driverError?.code === FOREIGN_KEY_VIOLATION) {
        return 'no-account';
      }
      throw err;
    }
  }

  async delete(serviceAccount: string, fingerprint: string): Promise<boolean> {
    const result = await this.repo.delete({ serviceAccount, fingerprint });
    return (result.affected ?? 0) > 0;
  }
}
