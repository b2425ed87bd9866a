import { Migration } from '@mikro-orm/migrations';

export class Migration20261125033545 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "redcap_config" ("id" serial primary key, "url" varchar(255) not null, "project" int not null, "instrument" varchar(255) not null, "version" varchar(255) not null, "token" varchar(255) not null, "session_field" varchar(255) not null, "date_field" varchar(255) not null, "comment_field" varchar(255) not null, "user_field" varchar(255) null, "completed_field" varchar(255) not null, "completed_value" varchar(255) not null);`,
    );
    this.addSql(
      `alter table "redcap_config" add constraint "redcap_config_url_project_instrument_unique" unique ("url", "project", "instrument");`,
    );

    this.addSql(
      `create table "redcap_record" ("id" serial primary key, "config_id" int not null, "record" varchar(255) not null, "event_name" varchar(255) not null default '', "event_id" int null, "entry_date" date not null, "user" varchar(255) null, "comment" text not null default '', "session_name" varchar(255) not null, "created_at" timestamptz not null);`,
    );
    this.addSql(
      `alter table "redcap_record" add constraint "redcap_record_record_config_id_event_name_entry_date_unique" unique ("record", "config_id", "event_name", "entry_date");`,
    );

    this.addSql(`create table "site" ("id" varchar(32) not null, constraint "site_pkey" primary key ("id"));`);

    this.addSql(
      `create table "study" ("id" varchar(32) not null, "name" varchar(255) not null, constraint "study_pkey" primary key ("id"));`,
    );

    this.addSql(
      `create table "study_site" ("id" serial primary key, "study_id" varchar(32) not null, "site_id" varchar(32) not null, "code" varchar(32) not null, "uses_redcap" boolean not null default false, "download_script" varchar(255) null, "post_download_script" varchar(255) null);`,
    );
    this.addSql(
      `alter table "study_site" add constraint "study_site_study_id_site_id_unique" unique ("study_id", "site_id");`,
    );
    this.addSql(`alter table "study_site" add constraint "study_site_code_site_id_unique" unique ("code", "site_id");`);

    this.addSql(
      `create table "timepoint" ("id" varchar(64) not null, "site_id" varchar(32) not null, "is_phantom" boolean not null default false, constraint "timepoint_pkey" primary key ("id"));`,
    );

    this.addSql(
      `create table "study_timepoint" ("timepoint_id" varchar(64) not null, "study_id" varchar(32) not null, constraint "study_timepoint_pkey" primary key ("timepoint_id", "study_id"));`,
    );

    this.addSql(
      `create table "session" ("id" varchar(80) not null, "timepoint_id" varchar(64) not null, "num" int not null, "date" date null, constraint "session_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "session" add constraint "session_timepoint_id_num_unique" unique ("timepoint_id", "num");`,
    );

    this.addSql(
      `create table "session_redcap" ("session_id" varchar(80) not null, "record_id" int null, constraint "session_redcap_pkey" primary key ("session_id"));`,
    );

    this.addSql(
      `create table "scan" ("id" serial primary key, "session_id" varchar(80) not null, "name" varchar(255) not null, "series" int not null, "tag" varchar(64) not null, "description" text null, "created_at" timestamptz not null);`,
    );
    this.addSql(`alter table "scan" add constraint "scan_name_unique" unique ("name");`);

    this.addSql(
      `create table "empty_session" ("session_id" varchar(80) not null, "comment" text not null, "user" varchar(255) null, "created_at" timestamptz not null, constraint "empty_session_pkey" primary key ("session_id"));`,
    );

    this.addSql(
      `create table "app_user" ("id" serial primary key, "name" varchar(255) not null, "email" varchar(255) null, "admin" boolean not null default false);`,
    );
    this.addSql(`alter table "app_user" add constraint "app_user_name_unique" unique ("name");`);

    this.addSql(
      `alter table "redcap_record" add constraint "redcap_record_config_id_foreign" foreign key ("config_id") references "redcap_config" ("id") on update cascade;`,
    );

    this.addSql(
      `alter table "study_site" add constraint "study_site_study_id_foreign" foreign key ("study_id") references "study" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "study_site" add constraint "study_site_site_id_foreign" foreign key ("site_id") references "site" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "timepoint" add constraint "timepoint_site_id_foreign" foreign key ("site_id") references "site" ("id") on update cascade;`,
    );

    this.addSql(
      `alter table "study_timepoint" add constraint "study_timepoint_timepoint_id_foreign" foreign key ("timepoint_id") references "timepoint" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "study_timepoint" add constraint "study_timepoint_study_id_foreign" foreign key ("study_id") references "study" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "session" add constraint "session_timepoint_id_foreign" foreign key ("timepoint_id") references "timepoint" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "session_redcap" add constraint "session_redcap_session_id_foreign" foreign key ("session_id") references "session" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "session_redcap" add constraint "session_redcap_record_id_foreign" foreign key ("record_id") references "redcap_record" ("id") on update cascade on delete set null;`,
    );

    this.addSql(
      `alter table "scan" add constraint "scan_session_id_foreign" foreign key ("session_id") references "session" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "empty_session" add constraint "empty_session_session_id_foreign" foreign key ("session_id") references "session" ("id") on update cascade on delete cascade;`,
    );
  }
}
