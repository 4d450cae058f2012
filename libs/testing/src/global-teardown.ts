import { stopPostgres } from './postgres';

export default function globalTeardown(): void {
  const dir = process.env['GROVE_TEST_PG_DIR'];
  const binDir = process.env['GROVE_TEST_PG_BIN'];
  if (dir && binDir) {
    stopPostgres({ dir, binDir });
  }
}
