import { Migration } from '@mikro-orm/migrations';

/**
 * A running job is identified by the worker process that runs it (job_run.runner) and by its process as the kernel
 * names it (pid_space: boot id and pid namespace; pid_start: its start time), never by hostname and pid.
 */
export class Migration20261203111000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "job_run" add column "runner" uuid null, add column "pid_space" varchar(100) null, add column "pid_start" bigint null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "job_run" drop column "runner", drop column "pid_space", drop column "pid_start";`);
  }
}
