import type { MigrationInterface, QueryRunner } from 'typeorm';
import { AddSchedulingColumns1796700000000 } from './1796700000000-AddSchedulingColumns';

/**
 * The scheduling columns of AddSchedulingColumns, computed by one trigger instead of one generation expression each
 * (issue 13). Postgres evaluates every generated column on its own: each parsed the whole document from `json` again and
 * called SQL functions that it cannot inline (they hold subqueries), so it planned their bodies again for every
 * statement, seven times per VM written: an insert cost several times what it costs without the columns, which capped
 * creates well below 500 a second on two cores. The trigger parses the document once, walks the arrays in
 * PL/pgSQL (whose plans are kept for the session) and computes the placement shape once for the three columns that
 * derive from it. The columns keep their values and indexes (DROP EXPRESSION) and their meaning, and are still
 * computed by the database on every write, whoever writes (an older replica included).
 */
export class ComputeSchedulingColumnsOnce1796800000000 implements MigrationInterface {
  name = 'ComputeSchedulingColumnsOnce1796800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION grove_vm_scheduling_columns() RETURNS trigger
      LANGUAGE plpgsql AS $$
      DECLARE
        doc jsonb := NEW.document::jsonb;
        conditions jsonb := doc->'conditions';
        endpoints jsonb := doc->'endpoints';
        ranges jsonb := '[]'::jsonb;
        power_state text := coalesce(doc->>'powerState', '');
        i integer;
      BEGIN
        -- isVmScheduled: the first condition of type "scheduled", or for documents without one, a worker.
        NEW.scheduled := NEW.worker <> '';
        IF jsonb_typeof(conditions) = 'array' THEN
          FOR i IN 0 .. jsonb_array_length(conditions) - 1 LOOP
            IF conditions->i->>'type' = 'scheduled' THEN
              NEW.scheduled := coalesce(conditions->i->>'state', '') = 'true';
              EXIT;
            END IF;
          END LOOP;
        END IF;
        IF jsonb_typeof(endpoints) = 'array' THEN
          FOR i IN 0 .. jsonb_array_length(endpoints) - 1 LOOP
            ranges := ranges || jsonb_build_array(coalesce(endpoints->i->'workerPortRange', 'null'::jsonb));
          END LOOP;
        END IF;
        -- The placement shape (scheduler/placement-shape.ts).
        NEW.placement := jsonb_build_object(
          'arch', coalesce(doc->>'arch', ''),
          'runtime', coalesce(doc->>'runtime', ''),
          'labels', CASE WHEN jsonb_typeof(doc->'labels') = 'object' THEN doc->'labels' ELSE '{}'::jsonb END,
          'resources', CASE WHEN jsonb_typeof(doc->'resources') = 'object' THEN doc->'resources' ELSE '{}'::jsonb END,
          'netSoftnetExpose',
            CASE WHEN jsonb_typeof(doc->'netSoftnetExpose') = 'array' THEN doc->'netSoftnetExpose' ELSE '[]'::jsonb END,
          'endpointRanges', ranges,
          'hostProcesses',
            CASE WHEN jsonb_typeof(doc->'hostProcesses') = 'array' THEN jsonb_array_length(doc->'hostProcesses') > 0
            ELSE false END);
        NEW.resources := NEW.placement->'resources';
        NEW.claims_ports := NEW.placement->'netSoftnetExpose' <> '[]'::jsonb OR ranges <> '[]'::jsonb;
        NEW.awaiting_placement := NEW.status = 'pending' AND power_state = 'running' AND NOT NEW.scheduled;
        NEW.status_message := coalesce(doc->>'status_message', '');
        NEW.health_check := coalesce(
          (NEW.status = 'failed'
            AND (NEW.scheduled OR (doc->>'restart_policy' = 'OnFailure' AND power_state = 'running')))
          OR (NEW.scheduled AND power_state <> 'running'),
          false);
        RETURN NEW;
      END
      $$`);
    await q.query(`
      ALTER TABLE vms
        ALTER COLUMN scheduled DROP EXPRESSION,
        ALTER COLUMN awaiting_placement DROP EXPRESSION,
        ALTER COLUMN placement DROP EXPRESSION,
        ALTER COLUMN resources DROP EXPRESSION,
        ALTER COLUMN claims_ports DROP EXPRESSION,
        ALTER COLUMN status_message DROP EXPRESSION,
        ALTER COLUMN health_check DROP EXPRESSION`);
    await q.query(`
      CREATE TRIGGER vms_scheduling_columns BEFORE INSERT OR UPDATE ON vms
      FOR EACH ROW EXECUTE FUNCTION grove_vm_scheduling_columns()`);
    await q.query(`DROP FUNCTION grove_vm_health_check(jsonb, text, text)`);
    await q.query(`DROP FUNCTION grove_vm_placement(jsonb)`);
    await q.query(`DROP FUNCTION grove_vm_scheduled(jsonb, text)`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Generated columns cannot be brought back in place (SET EXPRESSION is Postgres 17's): drop the plain ones with
    // their indexes and generate them again as AddSchedulingColumns did.
    await q.query(`DROP TRIGGER vms_scheduling_columns ON vms`);
    await q.query(`DROP FUNCTION grove_vm_scheduling_columns()`);
    await q.query(`DROP INDEX vms_port_claims_idx`);
    await q.query(`DROP INDEX vms_health_check_idx`);
    await q.query(`DROP INDEX vms_awaiting_placement_idx`);
    await q.query(`DROP INDEX vms_scheduled_usage_idx`);
    await q.query(`
      ALTER TABLE vms
        DROP COLUMN health_check,
        DROP COLUMN status_message,
        DROP COLUMN claims_ports,
        DROP COLUMN resources,
        DROP COLUMN placement,
        DROP COLUMN awaiting_placement,
        DROP COLUMN scheduled`);
    await new AddSchedulingColumns1796700000000().up(q);
  }
}
