import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import type { Orm } from '../src/db/orm';
import type { Logger } from '../src/logger';

/** What the activities need from the world; tests hand in real ones wired to test servers. */
export interface ActivityDeps {
  config: Config;
  orm: Orm;
  logger: Logger;
  /** To start the monitors from the intake (with the joining conflict policy). */
  temporal: Client;
}
