import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `Worker.capabilities` (orchard-2026.md §1.2.12): what a worker reported it can do, e.g. `vm-exposed-ports`.
 * Workers registered before this know nothing beyond the baseline until they register again.
 */
export class AddWorkerCapabilities1796428800000 implements MigrationInterface {
  name = 'AddWorkerCapabilities1796428800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workers ADD COLUMN capabilities jsonb NOT NULL DEFAULT '[]'::jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workers DROP COLUMN capabilities`);
  }
}
