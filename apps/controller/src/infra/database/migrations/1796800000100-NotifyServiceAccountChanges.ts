import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Replicas keep the service accounts that requests authenticate as in memory (common/auth/service-account-cache.ts,
 * issue 13). Every write of an account tells every replica which one changed, on the cluster bus's channel
 * (`grove_cluster`, cluster/cluster-bus.ts), as a message of kind `service-account-changed` from `(postgres)` (no replica's name). A trigger
 * rather than the controller's code, so that no writer is missed: a replica that has just started and is not yet known
 * to the others, an older replica, or someone at the SQL prompt. Postgres delivers the notification when the write
 * commits.
 */
export class NotifyServiceAccountChanges1796800000100 implements MigrationInterface {
  name = 'NotifyServiceAccountChanges1796800000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION grove_notify_service_account_changed() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP <> 'INSERT' THEN
          PERFORM pg_notify('grove_cluster',
            json_build_object('from', '(postgres)', 'kind', 'service-account-changed', 'name', OLD.name)::text);
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.name <> OLD.name) THEN
          PERFORM pg_notify('grove_cluster',
            json_build_object('from', '(postgres)', 'kind', 'service-account-changed', 'name', NEW.name)::text);
        END IF;
        RETURN NULL;
      END
      $$`);
    await q.query(`
      CREATE TRIGGER service_accounts_changed AFTER INSERT OR UPDATE OR DELETE ON service_accounts
      FOR EACH ROW EXECUTE FUNCTION grove_notify_service_account_changed()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER service_accounts_changed ON service_accounts`);
    await q.query(`DROP FUNCTION grove_notify_service_account_changed()`);
  }
}
