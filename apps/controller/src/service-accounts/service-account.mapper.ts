import type { Role, ServiceAccount } from '@grove/resources';
import type { ServiceAccountEntity } from './service-account.entity';

export function toServiceAccountResource(entity: ServiceAccountEntity, token?: string): ServiceAccount {
  const resource: ServiceAccount = {
    name: entity.name,
    createdAt: entity.createdAt.toISOString(),
    roles: entity.roles as Role[],
  };
  if (token !== undefined) {
    resource.token = token;
  }
  return resource;
}
