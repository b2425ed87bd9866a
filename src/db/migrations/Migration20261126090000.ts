import { Migration } from '@mikro-orm/migrations';

/** How far the reconciliation of each REDCap config has got (ReconcileState in src/db/entities.ts). */
export class Migration20261126090000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "reconcile_state" ("config_id" int not null, "reconciled_until" timestamptz not null, constraint "reconcile_state_pkey" primary key ("config_id"));`,
    );
    this.addSql(
      `alter table "reconcile_state" add constraint "reconcile_state_config_id_foreign" foreign key ("config_id") references "redcap_config" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "reconcile_state" cascade;`);
  }
}
