import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 12, item 3: VMs without a startup script were stored (and so served) with `"startup_script":null`, where
 * Orchard omits the field. `GET /v1/vms` concatenates the stored documents in SQL, so the stored document itself is
 * fixed rather than each read: one rewrite here, and the repository no longer writes nulls. The column is `json`
 * (text kept in the API's field order), so the field is cut out of the text; Grove wrote it compact and never last
 * (`restart_policy` follows), and `,"` cannot occur inside a JSON string (its quote would be escaped).
 */
export class OmitNullStartupScript1796515200000 implements MigrationInterface {
  name = 'OmitNullStartupScript1796515200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `UPDATE vms SET document = replace(document::text, ',"startup_script":null', '')::json
       WHERE strpos(document::text, ',"startup_script":null') > 0`,
    );
  }

  async down(): Promise<void> {
    // Nothing to restore: an absent startup_script reads as none, as null did.
  }
}
