/** Builds the activities' dependencies from the configuration: used by `npm run worker` and `npm start`. */
import type { Client } from '@temporalio/client';
import type { ActivityDeps } from '../activities';
import type { Config } from './config';
import type { Orm } from './db/orm';
import { logger } from './logger';
import { createMailer } from './mail/transport';

export function createActivityDeps(config: Config, orm: Orm, temporal: Client): ActivityDeps {
  return { config, orm, logger, temporal, mailer: createMailer(config) };
}
