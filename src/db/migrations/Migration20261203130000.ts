import { Migration } from '@mikro-orm/migrations';

/**
 * XNAT (docs/xnat.md): its servers (xnat_config) and projects (xnat_project, one per study site, with how far its
 * sync has read and its latest upload), what XNAT last said about each session (session_xnat), and the
 * experiments whose label names no session (xnat_label_problem).
 */
export class Migration20261203130000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "xnat_config" ("id" serial primary key, "url" varchar(255) not null, "user" varchar(255) not null, "password" varchar(255) not null, "timezone" varchar(64) null);`,
    );
    this.addSql(`alter table "xnat_config" add constraint "xnat_config_url_unique" unique ("url");`);

    this.addSql(
      `create table "xnat_project" ("id" serial primary key, "config_id" int not null, "project" varchar(64) not null, "study_site_id" int not null, "synced_until" timestamptz null, "last_upload_at" timestamptz null);`,
    );
    this.addSql(
      `alter table "xnat_project" add constraint "xnat_project_study_site_id_unique" unique ("study_site_id");`,
    );
    this.addSql(
      `alter table "xnat_project" add constraint "xnat_project_config_id_project_unique" unique ("config_id", "project");`,
    );
    this.addSql(
      `alter table "xnat_project" add constraint "xnat_project_config_id_foreign" foreign key ("config_id") references "xnat_config" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "xnat_project" add constraint "xnat_project_study_site_id_foreign" foreign key ("study_site_id") references "study_site" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `create table "session_xnat" ("session_id" varchar(80) not null, "state" varchar(16) not null, "since" timestamptz null, "scans" int null, "checked_at" timestamptz not null, "reason" text null, "experiment" varchar(64) null, constraint "session_xnat_pkey" primary key ("session_id"));`,
    );
    this.addSql(
      `alter table "session_xnat" add constraint "session_xnat_session_id_foreign" foreign key ("session_id") references "session" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `create table "xnat_label_problem" ("id" serial primary key, "project_id" int not null, "experiment" varchar(64) not null, "label" text not null, "reason" text not null, "seen_at" timestamptz not null);`,
    );
    this.addSql(
      `alter table "xnat_label_problem" add constraint "xnat_label_problem_project_id_experiment_unique" unique ("project_id", "experiment");`,
    );
    this.addSql(
      `alter table "xnat_label_problem" add constraint "xnat_label_problem_project_id_foreign" foreign key ("project_id") references "xnat_project" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "xnat_label_problem" cascade;`);
    this.addSql(`drop table if exists "session_xnat" cascade;`);
    this.addSql(`drop table if exists "xnat_project" cascade;`);
    this.addSql(`drop table if exists "xnat_config" cascade;`);
  }
}
