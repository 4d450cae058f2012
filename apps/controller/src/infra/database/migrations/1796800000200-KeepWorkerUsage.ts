import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the VMs scheduled on each worker take of it, kept by Postgres as VMs are written (issue 13): every scheduling
 * pass needs it, and summing it over the placed VMs cost a pass 5–25 ms of Postgres with 10,000 of them (a scan of
 * every placed VM, and of their pages too while autovacuum had not yet marked them visible, as after a burst). The
 * table `worker_usage` counts the scheduled VMs per worker and resource request (few distinct requests), changed by a
 * trigger in the statement that writes the VM, whoever writes it, so it never disagrees with the VMs. Only a write that
 * schedules, unschedules, moves or deletes a scheduled VM touches it; placements come from the one scheduler, and
 * every other such write is of a single VM, so two writers never wait for each other's rows in opposite orders.
 */
export class KeepWorkerUsage1796800000200 implements MigrationInterface {
  name = 'KeepWorkerUsage1796800000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE worker_usage (
        worker text NOT NULL,
        resources jsonb NOT NULL,
        vms integer NOT NULL,
        PRIMARY KEY (worker, resources)
      )`);
    await q.query(`
      CREATE FUNCTION grove_vm_worker_usage() RETURNS trigger
      LANGUAGE plpgsql AS $$
      DECLARE
        remaining integer;
      BEGIN
        IF TG_OP = 'UPDATE' AND OLD.scheduled = NEW.scheduled AND OLD.worker = NEW.worker
            AND OLD.resources = NEW.resources THEN
          RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' AND OLD.scheduled THEN
          UPDATE worker_usage SET vms = vms - 1 WHERE worker = OLD.worker AND resources = OLD.resources
          RETURNING vms INTO remaining;
          IF remaining = 0 THEN
            DELETE FROM worker_usage WHERE worker = OLD.worker AND resources = OLD.resources AND vms = 0;
          END IF;
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.scheduled THEN
          INSERT INTO worker_usage (worker, resources, vms) VALUES (NEW.worker, NEW.resources, 1)
          ON CONFLICT (worker, resources) DO UPDATE SET vms = worker_usage.vms + 1;
        END IF;
        RETURN NULL;
      END
      $$`);
    await q.query(`
      CREATE FUNCTION grove_vms_truncated() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM worker_usage;
        RETURN NULL;
      END
      $$`);
    await q.query(`
      CREATE TRIGGER vms_worker_usage AFTER INSERT OR UPDATE OR DELETE ON vms
      FOR EACH ROW EXECUTE FUNCTION grove_vm_worker_usage()`);
    await q.query(`
      CREATE TRIGGER vms_truncated_worker_usage AFTER TRUNCATE ON vms
      FOR EACH STATEMENT EXECUTE FUNCTION grove_vms_truncated()`);
    await q.query(`
      INSERT INTO worker_usage (worker, resources, vms)
      SELECT worker, resources, count(*) FROM vms WHERE scheduled GROUP BY worker, resources`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER vms_truncated_worker_usage ON vms`);
    await q.query(`DROP TRIGGER vms_worker_usage ON vms`);
    await q.query(`DROP FUNCTION grove_vms_truncated()`);
    await q.query(`DROP FUNCTION grove_vm_worker_usage()`);
    await q.query(`DROP TABLE worker_usage`);
  }
}
