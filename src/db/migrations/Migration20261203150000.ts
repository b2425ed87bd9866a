import { Migration } from '@mikro-orm/migrations';

/**
 * The lab's pages: users who may look (app_user.staff), the studies a user sees (app_user_study; none: all), and the
 * logins to the pages (lab_login, one row per browser, found by the SHA-256 of its cookie's token).
 */
export class Migration20261203150000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "app_user" add column "staff" boolean not null default false;`);

    this.addSql(
      `create table "app_user_study" ("user_id" int not null, "study_id" varchar(32) not null, constraint "app_user_study_pkey" primary key ("user_id", "study_id"));`,
    );
    this.addSql(
      `alter table "app_user_study" add constraint "app_user_study_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "app_user_study" add constraint "app_user_study_study_id_foreign" foreign key ("study_id") references "study" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `create table "lab_login" ("id" varchar(64) not null, "user_id" int null, "operator" boolean not null default false, "csrf_token" varchar(64) not null, "oidc" jsonb null, "return_to" text null, "created_at" timestamptz not null, "expires_at" timestamptz not null, constraint "lab_login_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "lab_login_expires_at_index" on "lab_login" ("expires_at");`);
    this.addSql(
      `alter table "lab_login" add constraint "lab_login_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "lab_login" cascade;`);
    this.addSql(`drop table if exists "app_user_study" cascade;`);
    this.addSql(`alter table "app_user" drop column "staff";`);
  }
}
