import { Migration } from '@mikro-orm/migrations';

/** The ledger of admin emails (src/db/sent-email.ts): one row per idempotency key. */
export class Migration20261125203800 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "sent_email" ("key" varchar(255) not null, "kind" varchar(64) not null, "session_id" varchar(80) null, "subject" text not null, "recipients" text not null, "status" varchar(16) not null default 'sending', "attempts" int not null default 1, "message_id" varchar(255) null, "error" text null, "created_at" timestamptz not null, "sent_at" timestamptz null, constraint "sent_email_pkey" primary key ("key"));`,
    );
    this.addSql(`create index "sent_email_session_id_index" on "sent_email" ("session_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "sent_email" cascade;`);
  }
}
