import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the scheduler asks of VMs, kept by Postgres beside each document (issue 13): a pass reads the pending VMs
 * counted by placement shape, the usage of each worker summed in SQL and the few VMs whose state calls for a health
 * transition, instead of every document of the fleet. The columns are generated from the document on every write,
 * whoever writes it (an older replica included), so they can never disagree with it.
 *
 * - `scheduled`: `isVmScheduled` — the `scheduled` condition, or for legacy documents without one, a worker.
 * - `awaiting_placement`: `awaitsPlacement` — pending, power state running, not scheduled.
 * - `placement`: the VM's placement shape (scheduler/placement-shape.ts): what decides which workers can take it.
 * - `resources`, `claims_ports`: what a scheduled VM takes of its worker. With the index on (worker, resources) of the
 *   scheduled VMs, Postgres sums the usage of every worker from the index alone; the few VMs that claim worker ports
 *   have an index of their own.
 * - `status_message`: so that a pass rewrites only the pending VMs whose reason changed.
 * - `health_check`: the VM's own state may call for a health transition (scheduler/health.ts): failed and still
 *   scheduled or due for a restart, or scheduled with a power state other than running. Transitions that come from the
 *   worker (gone, offline) are found by worker.
 *
 * The functions are pure functions of their arguments (IMMUTABLE, as generated columns require).
 */
export class AddSchedulingColumns1796700000000 implements MigrationInterface {
  name = 'AddSchedulingColumns1796700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION grove_vm_scheduled(doc jsonb, worker text) RETURNS boolean
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(
          (SELECT coalesce(c->>'state', '') = 'true'
           FROM jsonb_array_elements(
             CASE WHEN jsonb_typeof(doc->'conditions') = 'array' THEN doc->'conditions' ELSE '[]'::jsonb END
           ) WITH ORDINALITY AS e(c, i)
           WHERE c->>'type' = 'scheduled'
           ORDER BY i
           LIMIT 1),
          worker <> '')
      $$`);
    await q.query(`
      CREATE FUNCTION grove_vm_placement(doc jsonb) RETURNS jsonb
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT jsonb_build_object(
          'arch', coalesce(doc->>'arch', ''),
          'runtime', coalesce(doc->>'runtime', ''),
          'labels', CASE WHEN jsonb_typeof(doc->'labels') = 'object' THEN doc->'labels' ELSE '{}'::jsonb END,
          'resources', CASE WHEN jsonb_typeof(doc->'resources') = 'object' THEN doc->'resources' ELSE '{}'::jsonb END,
          'netSoftnetExpose',
            CASE WHEN jsonb_typeof(doc->'netSoftnetExpose') = 'array' THEN doc->'netSoftnetExpose' ELSE '[]'::jsonb END,
          'endpointRanges',
            CASE WHEN jsonb_typeof(doc->'endpoints') = 'array' THEN
              (SELECT coalesce(jsonb_agg(coalesce(e->'workerPortRange', 'null'::jsonb) ORDER BY i), '[]'::jsonb)
               FROM jsonb_array_elements(doc->'endpoints') WITH ORDINALITY AS x(e, i))
            ELSE '[]'::jsonb END,
          'hostProcesses',
            CASE WHEN jsonb_typeof(doc->'hostProcesses') = 'array' THEN jsonb_array_length(doc->'hostProcesses') > 0
            ELSE false END)
      $$`);
    await q.query(`
      CREATE FUNCTION grove_vm_health_check(doc jsonb, status text, worker text) RETURNS boolean
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(
          (status = 'failed'
            AND (grove_vm_scheduled(doc, worker)
              OR (doc->>'restart_policy' = 'OnFailure' AND doc->>'powerState' = 'running')))
          OR (grove_vm_scheduled(doc, worker) AND coalesce(doc->>'powerState', '') <> 'running'),
          false)
      $$`);
    await q.query(`
      ALTER TABLE vms
        ADD COLUMN scheduled boolean NOT NULL
          GENERATED ALWAYS AS (grove_vm_scheduled(document::jsonb, worker)) STORED,
        ADD COLUMN awaiting_placement boolean NOT NULL
          GENERATED ALWAYS AS (
            status = 'pending'
            AND coalesce(document->>'powerState', '') = 'running'
            AND NOT grove_vm_scheduled(document::jsonb, worker)
          ) STORED,
        ADD COLUMN placement jsonb NOT NULL GENERATED ALWAYS AS (grove_vm_placement(document::jsonb)) STORED,
        ADD COLUMN resources jsonb NOT NULL
          GENERATED ALWAYS AS (grove_vm_placement(document::jsonb)->'resources') STORED,
        ADD COLUMN claims_ports boolean NOT NULL
          GENERATED ALWAYS AS (
            grove_vm_placement(document::jsonb)->'netSoftnetExpose' <> '[]'::jsonb
            OR grove_vm_placement(document::jsonb)->'endpointRanges' <> '[]'::jsonb
          ) STORED,
        ADD COLUMN status_message text NOT NULL
          GENERATED ALWAYS AS (coalesce(document->>'status_message', '')) STORED,
        ADD COLUMN health_check boolean NOT NULL
          GENERATED ALWAYS AS (grove_vm_health_check(document::jsonb, status, worker)) STORED`);
    await q.query(`CREATE INDEX vms_scheduled_usage_idx ON vms (worker, resources) WHERE scheduled`);
    await q.query(`CREATE INDEX vms_awaiting_placement_idx ON vms (created_at, name) WHERE awaiting_placement`);
    await q.query(`CREATE INDEX vms_health_check_idx ON vms (name) WHERE health_check`);
    await q.query(`CREATE INDEX vms_port_claims_idx ON vms (worker) WHERE scheduled AND claims_ports`);
  }

  async down(q: QueryRunner): Promise<void> {
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
    await q.query(`DROP FUNCTION grove_vm_health_check(jsonb, text, text)`);
    await q.query(`DROP FUNCTION grove_vm_placement(jsonb)`);
    await q.query(`DROP FUNCTION grove_vm_scheduled(jsonb, text)`);
  }
}
