/** What the activities need from the world, and how the worker builds it from the configuration. */
import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import type { Orm } from '../src/db/orm';
import { logger as serviceLogger, type Logger } from '../src/logger';
import { createMailer, type Mailer } from '../src/mail/transport';
import { XnatClient } from '../src/xnat/client';

/** Tests hand in real ones wired to test servers. */
export interface ActivityDeps {
  config: Config;
  orm: Orm;
  logger: Logger;
  /** To start the monitors from the intake (with the joining conflict policy). */
  temporal: Client;
  /** Where admin email goes: SMTP_URL, or .eml files under DATA_DIR/outbox (src/mail/transport.ts). */
  mailer: Mailer;
  /**
   * Aborted once a shutting-down worker's SHUTDOWN_GRACE has passed (src/worker.ts): a job still running then is
   * stopped, even one its monitor had let run on.
   */
  graceOver?: AbortSignal;
  /** The worker's one XNAT client (its login is reused by every activity); unset: one made from the config. */
  xnat?: XnatClient;
}

/** The worker's dependencies (`npm run worker`, `npm start`): the service logger, the configured mailer, an XNAT client. */
export function activityDepsFrom(config: Config, orm: Orm, temporal: Client): ActivityDeps {
  return {
    config,
    orm,
    logger: serviceLogger,
    temporal,
    mailer: createMailer(config),
    xnat: new XnatClient({ timeoutMs: config.xnat.timeoutMs }),
  };
}
