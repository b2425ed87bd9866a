import { Migration } from '@mikro-orm/migrations';

/** Email claims carry their own id (sent_email.claim_id): a sender gives back only its own claim. */
export class Migration20261203110000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "sent_email" add column "claim_id" uuid null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "sent_email" drop column "claim_id";`);
  }
}
