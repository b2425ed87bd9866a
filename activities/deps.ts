import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import type { Orm } from '../src/db/orm';
import type { Logger } from '../src/logger';
import type { Mailer } from '../src/mail/transport';

/** What the activities need from the world; tests hand in real ones wired to test servers. */
export interface ActivityDeps {
  config: Config;
  orm: Orm;
  logger: Logger;
  /** To start the monitors from the intake (with the joining conflict policy). */
  temporal: Client;
  /** Where admin email goes: SMTP_URL, or .eml files under DATA_DIR/outbox (src/mail/transport.ts). */
  mailer: Mailer;
}
