import { Injectable } from '@nestjs/common';
import { DataSource, type Repository } from 'typeorm';
import { ServiceAccountEntity } from './service-account.entity';

@Injectable()
export class ServiceAccountRepository {
  private readonly repo: Repository<ServiceAccountEntity>;

  constructor(dataSource: DataSource) {
    this.repo = dataSource.getRepository(ServiceAccountEntity);
  }

  find(name: string): Promise<ServiceAccountEntity | null> {
    return this.repo.findOneBy({ name });
  }

  list(): Promise<ServiceAccountEntity[]> {
    return this.repo.find({ order: { name: 'ASC' } });
  }

  count(): Promise<number> {
    return this.repo.count();
  }

  /** Inserts; false when the name is taken. */
  async insert(entity: ServiceAccountEntity): Promise<boolean> {
    const result = await this.repo
      .createQueryBuilder()
      .insert()
      .values(entity)
      .orIgnore()
      .returning(['name'])
      .execute();
    return (result.raw as unknown[]).length > 0;
  }

  async upsert(entity: ServiceAccountEntity): Promise<void> {
    await this.repo.upsert(entity, ['name']);
  }

  /** Updates roles and, when given, the token hash; false when the account does not exist. */
  async update(name: string, roles: string[], tokenHash: string | undefined): Promise<boolean> {
    const set: Partial<ServiceAccountEntity> = tokenHash === undefined ? { roles } : { roles, tokenHash };
    const result = await this.repo.update({ name }, set);
    return (result.affected ?? 0) > 0;
  }

  async delete(name: string): Promise<boolean> {
    const result = await this.repo.delete({ name });
    return (result.affected ?? 0) > 0;
  }
}
