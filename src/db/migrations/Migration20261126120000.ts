import { Migration } from '@mikro-orm/migrations';

/**
 * A session's scans are found by an index (the monitors' check counts them at every wake-up), not a scan of the
 * table; every change to redcap_config sends NOTIFY redcap_config_changed at commit (the API's config cache,
 * src/redcap/config-cache.ts, empties itself on it).
 */
export class Migration20261126120000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index "scan_session_id_index" on "scan" ("session_id");`);
    this.addSql(
      `create function "redcap_config_changed"() returns trigger language plpgsql as $$ begin perform pg_notify('redcap_config_changed', ''); return null; end $$;`,
    );
    this.addSql(
      `create trigger "redcap_config_changed" after insert or update or delete or truncate on "redcap_config" for each statement execute function "redcap_config_changed"();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger "redcap_config_changed" on "redcap_config";`);
    this.addSql(`drop function "redcap_config_changed"();`);
    this.addSql(`drop index "scan_session_id_index";`);
  }
}
