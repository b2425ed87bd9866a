/** The one place that opens the database. */
import { MikroORM, type EntityManager } from '@mikro-orm/postgresql';
import { StartupError } from '../startup-failure';
import type { DatabaseSsl } from '../config';
import { ormConfig } from './mikro-orm.config';

export type Orm = MikroORM;

/** The request's own EntityManager: the fork the app's RequestContext middleware made for it (src/app.ts). */
export const requestEm = (orm: Orm): EntityManager => orm.em.getContext();

/** The database does not answer (at start, or for an operator command). */
export class DatabaseUnavailableError extends StartupError {}

/**
 * Connects (with TLS as `ssl` says: DATABASE_SSLMODE); a database that does not answer is a DatabaseUnavailableError
 * naming where (never the password).
 */
export async function openDatabase(databaseUrl: string, ssl?: DatabaseSsl): Promise<Orm> {
  try {
    return await MikroORM.init(ormConfig(databaseUrl, { ssl }));
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new DatabaseUnavailableError(
      `cannot connect to the database at ${withoutCredentials(databaseUrl)}: ${reason}`,
    );
  }
}

/** host:port/database, without user and password, for messages. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((migration) => migration.name);
}

/** True when the database answers a trivial query. */
export async function databaseAnswers(orm: Orm): Promise<boolean> {
  try {
    await orm.em.getConnection().execute('select 1');
    return true;
  } catch {
    return false;
  }
}
