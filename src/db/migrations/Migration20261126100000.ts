import { Migration } from '@mikro-orm/migrations';

/**
 * REDCap data as it really comes (docs/redcap.md "The life of a record").
 *
 * 1. A stored REDCap record is identified by (config, record, event, repeat instance), no longer by its date:
 *    `repeat_instance` (0: not a repeat instance) joins the unique key and `entry_date` leaves it. Where a record
 *    had several rows for one event (a date corrected in REDCap was stored as a second row), one row stays: the one
 *    linked to a session (the newest such), else the newest. The links of the rows dropped are removed first: their
 *    sessions then have no record ("nothing known yet"); the record's next save or reconciliation files it again.
 * 2. A record belongs to one session at most. Where a record was linked to several sessions (a session id corrected
 *    in REDCap after the first intake's history was gone), the link of the session with the most scans (then the
 *    greatest session id) stays; the other sessions lose their link (their monitors, if still running, find no
 *    record at their next check and end without email).
 * 3. Deleting a linked record is refused (it turned its session into "expects no record" before: `on delete set null`).
 * 4. `session.monitors_started_at`: a session's monitors run once. Every session linked to a record now had its
 *    monitors started by the intake that linked it, so it is stamped with the time of this migration.
 * 5. `redcap_config.det_version`: REDCap's version in the project_url of the latest trigger, for record links.
 */
export class Migration20261126100000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "session" add column "monitors_started_at" timestamptz null;`);
    this.addSql(
      `update "session" set "monitors_started_at" = now() where "id" in (select "session_id" from "session_redcap" where "record_id" is not null);`,
    );

    this.addSql(`alter table "redcap_record" add column "repeat_instance" int not null default 0;`);
    this.addSql(
      `create temporary table "redcap_record_dropped" on commit drop as select "id" from (select r."id", row_number() over (partition by r."config_id", r."record", r."event_name" order by exists (select 1 from "session_redcap" l where l."record_id" = r."id") desc, r."created_at" desc, r."id" desc) as "rank" from "redcap_record" r) ranked where "rank" > 1;`,
    );
    this.addSql(`delete from "session_redcap" where "record_id" in (select "id" from "redcap_record_dropped");`);
    this.addSql(`delete from "redcap_record" where "id" in (select "id" from "redcap_record_dropped");`);
    this.addSql(
      `alter table "redcap_record" drop constraint "redcap_record_record_config_id_event_name_entry_date_unique";`,
    );
    this.addSql(
      `alter table "redcap_record" add constraint "redcap_record_config_id_record_event_name_repeat__73093_unique" unique ("config_id", "record", "event_name", "repeat_instance");`,
    );

    this.addSql(
      `delete from "session_redcap" l using (select "session_id", row_number() over (partition by "record_id" order by (select count(*) from "scan" s where s."session_id" = l2."session_id") desc, "session_id" desc) as "rank" from "session_redcap" l2 where "record_id" is not null) ranked where l."session_id" = ranked."session_id" and ranked."rank" > 1;`,
    );
    this.addSql(`alter table "session_redcap" add constraint "session_redcap_record_id_unique" unique ("record_id");`);
    this.addSql(`alter table "session_redcap" drop constraint "session_redcap_record_id_foreign";`);
    this.addSql(
      `alter table "session_redcap" add constraint "session_redcap_record_id_foreign" foreign key ("record_id") references "redcap_record" ("id") on update cascade on delete no action;`,
    );

    this.addSql(`alter table "redcap_config" add column "det_version" varchar(32) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "redcap_config" drop column "det_version";`);
    this.addSql(`alter table "session_redcap" drop constraint "session_redcap_record_id_foreign";`);
    this.addSql(
      `alter table "session_redcap" add constraint "session_redcap_record_id_foreign" foreign key ("record_id") references "redcap_record" ("id") on update cascade on delete set null;`,
    );
    this.addSql(`alter table "session_redcap" drop constraint "session_redcap_record_id_unique";`);
    this.addSql(
      `alter table "redcap_record" drop constraint "redcap_record_config_id_record_event_name_repeat__73093_unique";`,
    );
    this.addSql(
      `alter table "redcap_record" add constraint "redcap_record_record_config_id_event_name_entry_date_unique" unique ("record", "config_id", "event_name", "entry_date");`,
    );
    this.addSql(`alter table "redcap_record" drop column "repeat_instance";`);
    this.addSql(`alter table "session" drop column "monitors_started_at";`);
  }
}
