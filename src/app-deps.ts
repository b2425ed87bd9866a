/** What the Koa app and its routes are built from (src/app.ts createApp). */
import type { Client } from '@temporalio/client';
import type { Config } from './config';
import type { Orm } from './db/orm';
import type { Logger } from './logger';
import type { RedcapConfigCache } from './redcap/config-cache';

export interface AppDeps {
  config: Config;
  orm: Orm;
  temporal: Client;
  logger?: Logger;
  /** The REDCap configs the DET route looks up, kept while changes are heard (api.ts listen: watchedConfigCache). */
  redcapConfigs?: RedcapConfigCache;
}
