/**
 * The database a one-off operator command (`npm run cli -- …`) works on: DATABASE_URL when set;
 * otherwise the embedded PostgreSQL of `npm start` under DATA_DIR — connected to if `npm start` has it
 * running, else started for the command and stopped after it.
 */
import path from 'node:path';
import type { Config } from '../config';
import { EMBEDDED_DATABASE, runningEmbeddedPostgresUrl, startEmbeddedPostgres } from './embedded-postgres';
import { describeStartupFailure } from '../startup-failure';
import { DatabaseUnavailableError, openDatabase, type Orm } from './orm';

/** Runs `work` on the database, then closes the connection (and stops PostgreSQL if we started it). */
export async function withCommandDatabase<T>(
  config: Config,
  log: (line: string) => void,
  work: (orm: Orm) => Promise<T>,
): Promise<T> {
  const stops: Array<() => Promise<void>> = [];
  const cleanUp = async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  // Ctrl-C during the command: still close what we opened, PostgreSQL last.
  const onSignal = () => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let url = config.databaseUrl;
    const ssl = url ? config.databaseSsl : undefined; // the embedded PostgreSQL speaks plain TCP
    if (!url) {
      const dataDir = path.join(config.dataDir, 'postgres');
      const running = runningEmbeddedPostgresUrl(dataDir, EMBEDDED_DATABASE);
      if (running) {
        log(`using the embedded PostgreSQL of npm start (${dataDir}, port ${new URL(running).port})`);
        url = running;
      } else {
        log(`starting the embedded PostgreSQL (${dataDir}, port ${config.embeddedPostgresPort}) for this command`);
        const pg = await startEmbeddedPostgres({
          dataDir,
          port: config.embeddedPostgresPort,
          database: EMBEDDED_DATABASE,
        }).catch((err) => {
          throw new DatabaseUnavailableError(
            `cannot start the embedded PostgreSQL in ${dataDir}: ${describeStartupFailure(err)}`,
          );
        });
        stops.push(() => pg.stop());
        url = pg.url;
      }
    }
    const orm = await openDatabase(url, ssl);
    stops.push(() => orm.close());
    return await work(orm);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanUp();
  }
}
