import { Migration } from '@mikro-orm/migrations';

/**
 * Lasting cancels (session.monitors_cancelled_at, monitors_cancel_reason), email claims as leases
 * (sent_email.lease_until) and the ledger of download and post-download jobs (job_run), at most one
 * running job per session and kind.
 */
export class Migration20261126110000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "session" add column "monitors_cancelled_at" timestamptz null, add column "monitors_cancel_reason" text null;`,
    );

    this.addSql(`alter table "sent_email" add column "lease_until" timestamptz null;`);

    this.addSql(
      `create table "job_run" ("id" serial primary key, "session_id" varchar(80) not null, "kind" varchar(16) not null, "command" text not null, "workflow_id" varchar(255) not null, "run_id" varchar(64) not null, "attempt" int not null, "host" varchar(255) not null, "pid" int null, "job_id" varchar(64) null, "status" varchar(16) not null default 'running', "exit_code" int null, "detail" text null, "submitted_at" timestamptz not null, "alive_at" timestamptz not null, "ended_at" timestamptz null);`,
    );
    this.addSql(`create index "job_run_session_id_index" on "job_run" ("session_id");`);
    this.addSql(
      `create unique index "job_run_one_running_per_session" on "job_run" ("session_id", "kind") where "status" = 'running';`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "job_run" cascade;`);
    this.addSql(`alter table "sent_email" drop column "lease_until";`);
    this.addSql(`alter table "session" drop column "monitors_cancelled_at", drop column "monitors_cancel_reason";`);
  }
}
