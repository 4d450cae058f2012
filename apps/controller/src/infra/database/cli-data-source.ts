import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source';

/**
 * For the TypeORM CLI only (`npx typeorm migration:show -d apps/controller/dist/infra/database/cli-data-source.js`),
 * with GROVE_DATABASE_URL pointing at the database. The app builds its DataSource from the same options.
 */
export default new DataSource(
  dataSourceOptions({ url: process.env['GROVE_DATABASE_URL'] ?? 'postgres://grove@127.0.0.1:5432/grove' }),
);
