import { DataSource, type DataSourceOptions } from 'typeorm';
import { ClusterSettingsEntity } from '../../cluster-settings/cluster-settings.entity';
import { ServiceAccountEntity } from '../../service-accounts/service-account.entity';
import { ServiceAccountSshKeyEntity } from '../../service-accounts/service-account-ssh-key.entity';
import { VmEventEntity } from '../../vms/vm-event.entity';
import { VmEntity } from '../../vms/vm.entity';
import { WorkerEntity } from '../../workers/worker.entity';
import { CreateSchema1763856000000 } from './migrations/1763856000000-CreateSchema';
import { CreateServiceAccountSshKeys1763942400000 } from './migrations/1763942400000-CreateServiceAccountSshKeys';
import { CreateReplicaRegistry1764950400000 } from './migrations/1764950400000-CreateReplicaRegistry';
import { AddWorkerCapabilities1796428800000 } from './migrations/1796428800000-AddWorkerCapabilities';
import { OmitNullStartupScript1796515200000 } from './migrations/1796515200000-OmitNullStartupScript';
import { FillNewerVmFields1796601600000 } from './migrations/1796601600000-FillNewerVmFields';
import { AddSchedulingColumns1796700000000 } from './migrations/1796700000000-AddSchedulingColumns';
import { ComputeSchedulingColumnsOnce1796800000000 } from './migrations/1796800000000-ComputeSchedulingColumnsOnce';
import { NotifyServiceAccountChanges1796800000100 } from './migrations/1796800000100-NotifyServiceAccountChanges';
import { KeepWorkerUsage1796800000200 } from './migrations/1796800000200-KeepWorkerUsage';

export const ENTITIES = [
  ServiceAccountEntity,
  ServiceAccountSshKeyEntity,
  WorkerEntity,
  VmEntity,
  VmEventEntity,
  ClusterSettingsEntity,
];
export const MIGRATIONS = [
  CreateSchema1763856000000,
  CreateServiceAccountSshKeys1763942400000,
  CreateReplicaRegistry1764950400000,
  AddWorkerCapabilities1796428800000,
  OmitNullStartupScript1796515200000,
  FillNewerVmFields1796601600000,
  AddSchedulingColumns1796700000000,
  ComputeSchedulingColumnsOnce1796800000000,
  NotifyServiceAccountChanges1796800000100,
  KeepWorkerUsage1796800000200,
];

/** Advisory-lock key held while migrating ("grom"). */
const MIGRATION_LOCK_KEY = 0x67726f6d;

/** Connection settings for a pg connection, by URL or by host/port (the embedded database's socket). */
export type DatabaseConnection = { url: string } | { host: string; port: number; database: string; username: string };

/**
 * The one DataSource definition, shared by the app, the tests and the TypeORM CLI. Never `synchronize`: the schema
 * comes only from migrations, on PGlite and Postgres alike.
 */
export function dataSourceOptions(connection: DatabaseConnection, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    ...connection,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    migrationsTransactionMode: 'all',
    installExtensions: false,
    uuidExtension: 'pgcrypto',
    extra: {
      max: poolSize,
      // A database that silently drops packets must fail requests (503, see database-availability.ts), not hang them:
      // a connection attempt gives up after 5 s, and TCP keep-alive finds dead connections of the pool.
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    },
  };
}

export async function openDataSource(connection: DatabaseConnection, poolSize = 10): Promise<DataSource> {
  const dataSource = new DataSource(dataSourceOptions(connection, poolSize));
  await dataSource.initialize();
  // Replicas starting together on a new database must not run the same migrations at once: the first one migrates
  // while the others wait on this lock, then find nothing left to do.
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await dataSource.runMigrations({ transaction: 'all' });
  } finally {
    // The connection goes back to the pool: the lock must not stay with it.
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.release();
  }
  return dataSource;
}
