import { Migration } from '@mikro-orm/migrations';

/**
 * What the lab's pages read newest first without sorting a whole study: sessions by date (a study's newest, and
 * the weeks of its picture), records by scan date and scans by arrival (each site's latest).
 */
export class Migration20261203151000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index "session_date_id_index" on "session" ("date", "id");`);
    this.addSql(`create index "redcap_record_entry_date_id_index" on "redcap_record" ("entry_date", "id");`);
    this.addSql(`create index "scan_created_at_id_index" on "scan" ("created_at", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "scan_created_at_id_index";`);
    this.addSql(`drop index "redcap_record_entry_date_id_index";`);
    this.addSql(`drop index "session_date_id_index";`);
  }
}
