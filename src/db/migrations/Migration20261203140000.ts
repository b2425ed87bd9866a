import { Migration } from '@mikro-orm/migrations';

/**
 * The lab's view (docs/http-api.md "What needs a person"): each session's study, site, state and since when it needs a
 * person, with the indexes of the lists; dismissals, problems, reconciliation's finds and the hourly email limit;
 * a site's quietAfter and last scan, a user's digest. Existing sessions get their state here, by the
 * rule of src/lab-data/state.ts as it was when this migration was written (frozen: the rule may change later, this
 * migration must not).
 */
export class Migration20261203140000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "email_throttle" ("scope" varchar(64) not null, "key" text not null, "until" timestamptz not null, constraint "email_throttle_pkey" primary key ("scope"));`,
    );
    this.addSql(
      `create table "held_email" ("key" varchar(255) not null, "kind" varchar(64) not null, "scope" varchar(64) not null, "subject" text not null, "held_at" timestamptz not null, constraint "held_email_pkey" primary key ("key"));`,
    );
    this.addSql(
      `create table "missed_triggers" ("run" varchar(255) not null, "redcap_config_id" int not null, "count" int not null, "sample" jsonb not null, "found_at" timestamptz not null, constraint "missed_triggers_pkey" primary key ("run"));`,
    );
    this.addSql(`create index "missed_triggers_redcap_config_id_index" on "missed_triggers" ("redcap_config_id");`);
    this.addSql(
      `create table "problem" ("id" serial primary key, "key" text not null, "kind" varchar(32) not null, "study_id" varchar(32) null, "site_id" varchar(32) null, "session_id" varchar(80) null, "redcap_config_id" int null, "record" text null, "event_name" text null, "repeat_instance" int null, "session_name" text null, "reason" text not null, "first_at" timestamptz not null, "last_at" timestamptz not null, "resolved_at" timestamptz null);`,
    );
    this.addSql(`alter table "problem" add constraint "problem_key_unique" unique ("key");`);
    this.addSql(`create index "problem_open_index" on "problem" ("study_id", "first_at") where "resolved_at" is null;`);
    this.addSql(`create index "problem_open_session_index" on "problem" ("session_id") where "resolved_at" is null;`);
    this.addSql(
      `create table "session_dismissal" ("session_id" varchar(80) not null, "kind" varchar(32) not null, "comment" text not null, "created_by" varchar(255) not null, "created_at" timestamptz not null, "ended_monitors" boolean not null default false, constraint "session_dismissal_pkey" primary key ("session_id", "kind"));`,
    );

    // Sites configured before now are quiet, if never uploaded to, from now on.
    this.addSql(
      `alter table "study_site" add column "quiet_after_seconds" int null, add column "last_scan_at" timestamptz null, add column "created_at" timestamptz not null default now();`,
    );
    this.addSql(`alter table "study_site" alter column "created_at" drop default;`);

    this.addSql(
      `alter table "session" add column "study_id" varchar(32) null, add column "site_id" varchar(32) null, add column "state" varchar(24) not null default 'waiting', add column "outstanding_since" timestamptz null;`,
    );
    this.addSql(
      `alter table "session" add constraint "session_study_id_foreign" foreign key ("study_id") references "study" ("id") on update cascade on delete set null;`,
    );
    this.addSql(
      `alter table "session" add constraint "session_site_id_foreign" foreign key ("site_id") references "site" ("id") on update cascade on delete set null;`,
    );
    this.addSql(`create index "session_list_index" on "session" (coalesce("date", '-infinity'::date), "id");`);
    this.addSql(
      `create index "session_study_list_index" on "session" ("study_id", coalesce("date", '-infinity'::date), "id");`,
    );
    this.addSql(
      `create index "session_study_state_list_index" on "session" ("study_id", "state", coalesce("date", '-infinity'::date), "id");`,
    );
    this.addSql(
      `create index "session_outstanding_index" on "session" ("study_id", "outstanding_since") where "outstanding_since" is not null;`,
    );

    this.addSql(`alter table "app_user" add column "digest" boolean not null default false;`);

    // Every session's state, from the facts as they are.
    this.addSql(`  with facts as (
    select s.id,
      coalesce(st.site_id, tp.site_id) as site_id,
      st.study_id,
      coalesce(st.uses_redcap, true) as uses_redcap,
      -- XNAT (the xnat state on the session): an experiment archived there counts as scans here too, and its upload
      -- time as the first scan's.
      (select min(scan.created_at) from scan where scan.session_id = s.id) as first_scan_at,
      link.record_id is not null as has_record,
      (link.session_id is not null and link.record_id is null)
        or exists (select 1 from session_dismissal d where d.session_id = s.id and d.kind = 'no-redcap-expected')
        as no_redcap_expected,
      s.monitors_cancelled_at is not null
        or exists (select 1 from empty_session e where e.session_id = s.id)
        or exists (select 1 from session_dismissal d where d.session_id = s.id and d.kind = 'no-scans-expected')
        as no_scans_expected,
      (select min(m.sent_at) from sent_email m
        where m.session_id = s.id and m.kind in ('no-scans', 'download-gave-up') and m.status = 'sent') as emailed_at,
      exists (select 1 from job_run j where j.session_id = s.id and j.kind = 'download') as download_tried,
      (select min(p.first_at) from problem p where p.session_id = s.id and p.resolved_at is null) as problem_at
    from session s
    join timepoint tp on tp.id = s.timepoint_id
    left join study_site st on st.code = split_part(s.id, '_', 1) and st.site_id = split_part(s.id, '_', 2)
    left join session_redcap link on link.session_id = s.id
  ),
  judged as (
    select facts.*, rule.state,
      case rule.state
        when 'problem' then facts.problem_at
        when 'no-redcap-record' then facts.first_scan_at
        when 'missing-scans' then facts.emailed_at
      end as outstanding_since
    from facts cross join lateral (select case
      when facts.problem_at is not null then 'problem'
      when facts.first_scan_at is not null and (facts.has_record or not facts.uses_redcap) then 'scans-present'
      when facts.first_scan_at is not null and facts.no_redcap_expected then 'no-redcap-expected'
      when facts.first_scan_at is not null then 'no-redcap-record'
      when facts.no_scans_expected then 'no-scans-expected'
      when not facts.has_record and facts.uses_redcap and facts.no_redcap_expected then 'no-redcap-expected'
      when not facts.has_record and facts.uses_redcap then 'no-redcap-record'
      when facts.emailed_at is not null then 'missing-scans'
      when facts.download_tried then 'downloading'
      else 'waiting'
    end as state) rule
  )
  update session s
  set state = judged.state, outstanding_since = judged.outstanding_since,
      study_id = judged.study_id, site_id = judged.site_id
  from judged
  where judged.id = s.id;`);
    this.addSql(`
  update study_site st set last_scan_at = latest.at
  from (
    select s.study_id, s.site_id, max(scan.created_at) as at
    from session s join scan on scan.session_id = s.id
    where s.study_id is not null
    group by s.study_id, s.site_id
  ) latest
  where st.study_id = latest.study_id and st.site_id = latest.site_id;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "app_user" drop column "digest";`);
    this.addSql(`drop index "session_outstanding_index";`);
    this.addSql(`drop index "session_study_state_list_index";`);
    this.addSql(`drop index "session_study_list_index";`);
    this.addSql(`drop index "session_list_index";`);
    this.addSql(
      `alter table "session" drop constraint "session_study_id_foreign", drop constraint "session_site_id_foreign";`,
    );
    this.addSql(
      `alter table "session" drop column "study_id", drop column "site_id", drop column "state", drop column "outstanding_since";`,
    );
    this.addSql(
      `alter table "study_site" drop column "quiet_after_seconds", drop column "last_scan_at", drop column "created_at";`,
    );
    for (const table of ['session_dismissal', 'problem', 'missed_triggers', 'held_email', 'email_throttle'])
      this.addSql(`drop table "${table}";`);
  }
}
