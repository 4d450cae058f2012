import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * VMs stored before Grove knew `audio`, `clipboard` and `netSoftnetExpose` (orchard-2026.md §1.2.7–1.2.9) get them
 * with the value their absence meant (`false`, `false`, `[]`), so that `GET /v1/vms`, which serves the stored
 * documents, agrees with `GET /v1/vms/{name}` (issue 12, item 3). The column is `json` in the API's field order:
 * they go in before `powerState`, where Grove writes them.
 */
export class FillNewerVmFields1796601600000 implements MigrationInterface {
  name = 'FillNewerVmFields1796601600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `UPDATE vms
       SET document = replace(
         document::text,
         ',"powerState":',
         ',"audio":false,"clipboard":false,"netSoftnetExpose":[],"powerState":'
       )::json
       WHERE NOT (document::jsonb ?| array['audio', 'clipboard', 'netSoftnetExpose'])
         AND strpos(document::text, ',"powerState":') > 0`,
    );
  }

  async down(): Promise<void> {
    // Nothing to undo: the values are what the absent fields meant.
  }
}
