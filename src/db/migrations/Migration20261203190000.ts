import { Migration } from '@mikro-orm/migrations';

/**
 * What the lab's study page reads by one index, now that a session carries its study and site: whether it has a
 * REDCap record and scans (kept with its state by src/lab-data/state.ts), beside its date, so that the weekly picture
 * and each site's latest record are an index-only scan. The indexes of part 1 that walked all sessions by date and
 * all records by scan date (for lack of a study on the session) go: the lists' indexes and this one serve them.
 */
export class Migration20261203190000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "session" add column "has_record" boolean not null default false, add column "has_scans" boolean not null default false;`,
    );
    // The facts as the refresh reads them (a record linked; a scan registered).
    this.addSql(
      `update "session" s set
         "has_record" = exists (select 1 from "session_redcap" l where l."session_id" = s."id" and l."record_id" is not null),
         "has_scans" = exists (select 1 from "scan" c where c."session_id" = s."id");`,
    );
    this.addSql(
      `create index "session_study_site_index" on "session" ("study_id", "site_id", "date", "id") include ("has_record", "has_scans");`,
    );
    this.addSql(`drop index "session_date_id_index";`);
    this.addSql(`drop index "redcap_record_entry_date_id_index";`);
  }

  override async down(): Promise<void> {
    this.addSql(`create index "redcap_record_entry_date_id_index" on "redcap_record" ("entry_date", "id");`);
    this.addSql(`create index "session_date_id_index" on "session" ("date", "id");`);
    this.addSql(`drop index "session_study_site_index";`);
    this.addSql(`alter table "session" drop column "has_record", drop column "has_scans";`);
  }
}
