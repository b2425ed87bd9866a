import { Migration } from '@mikro-orm/migrations';

/** A session's scans are found by an index (the monitors' check counts them on every wake-up), not a scan of the table. */
export class Migration20261126120000 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "scan_session_id_index" on "scan" ("session_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "scan_session_id_index";`);
  }

}
