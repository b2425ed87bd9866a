import { Migration } from '@mikro-orm/migrations';

/**
 * XNAT's reverse monitor (docs/xnat.md): the sessions the XNAT sync filed first without a REDCap record, and whether
 * their RedcapRecordMonitor was started (xnat_found_session).
 */
export class Migration20261203180000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "xnat_found_session" ("session_id" varchar(80) not null, "project_id" int not null, "found_at" timestamptz not null, "monitor_started_at" timestamptz null, constraint "xnat_found_session_pkey" primary key ("session_id"));`,
    );
    this.addSql(`create index "xnat_found_session_project_id_index" on "xnat_found_session" ("project_id");`);
    this.addSql(
      `alter table "xnat_found_session" add constraint "xnat_found_session_session_id_foreign" foreign key ("session_id") references "session" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "xnat_found_session" add constraint "xnat_found_session_project_id_foreign" foreign key ("project_id") references "xnat_project" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "xnat_found_session" cascade;`);
  }
}
