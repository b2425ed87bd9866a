import { Migration } from '@mikro-orm/migrations';

/**
 * Failed intakes (intake_failure): the full reason of each failed read of an intake run, for the admins' email,
 * and the digest of the row it refused, for reconciliation; the intake's history keeps only ids and the kind of
 * problem. Rows go with their REDCap config.
 */
export class Migration20261203160000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "intake_failure" ("id" serial primary key, "config_id" int not null, "record" varchar(255) not null, "event_name" varchar(255) not null default '', "repeat_instance" int not null default 0, "workflow_id" varchar(1000) not null, "run_id" varchar(64) not null, "read" int not null, "type" varchar(64) not null, "field" varchar(255) null, "detail" text not null, "row_digest" varchar(16) null, "created_at" timestamptz not null, "reported_at" timestamptz null);`,
    );
    this.addSql(
      `alter table "intake_failure" add constraint "intake_failure_run_id_read_unique" unique ("run_id", "read");`,
    );
    this.addSql(
      `alter table "intake_failure" add constraint "intake_failure_config_id_foreign" foreign key ("config_id") references "redcap_config" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "intake_failure" cascade;`);
  }
}
