import { startPostgres } from './postgres';

/** Jest global setup: one throwaway Postgres cluster for the run, announced to the test workers by environment. */
export default async function globalSetup(): Promise<void> {
  const cluster = await startPostgres();
  process.env['GROVE_TEST_PG_URL'] = cluster.url;
  process.env['GROVE_TEST_PG_DIR'] = cluster.dir;
  process.env['GROVE_TEST_PG_BIN'] = cluster.binDir;
}
