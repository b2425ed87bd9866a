import { Migration } from '@mikro-orm/migrations';

/** A stored REDCap record's scan date can be forgotten (npm run cli -- forget), as its comment and user can. */
export class Migration20261203120000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "redcap_record" alter column "entry_date" drop not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`update "redcap_record" set "entry_date" = '1970-01-01' where "entry_date" is null;`);
    this.addSql(`alter table "redcap_record" alter column "entry_date" set not null;`);
  }
}
