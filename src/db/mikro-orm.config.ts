/** The one MikroORM configuration: the CLI, the API, the worker and the tests all use it. */
import { defineConfig } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { DatabaseSsl } from '../config';
import { entities } from './entities';

/**
 * node-postgres's `ssl` for a DatabaseSsl, as libpq reads sslmode: `require` encrypts (and checks the certificate
 * only against a CA given); `verify-ca` checks it is signed by the CA; `verify-full` also that it names the host.
 */
export function postgresSsl(ssl: DatabaseSsl | undefined): ConnectionOptions | false {
  if (!ssl) return false;
  const ca = ssl.ca ? { ca: ssl.ca } : {};
  if (ssl.mode === 'verify-full') return { ...ca, rejectUnauthorized: true };
  if (ssl.mode === 'verify-ca' || ssl.ca)
    return { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { rejectUnauthorized: false };
}

/** The TLS the ORM of `orm` connects with, for another connection to the same database (the config cache's LISTEN). */
export function ormSsl(driverOptions: unknown): ConnectionOptions | false {
  return (driverOptions as { connection?: { ssl?: ConnectionOptions | false } })?.connection?.ssl ?? false;
}

export function ormConfig(clientUrl: string, options: { debug?: boolean; ssl?: DatabaseSsl } = {}) {
  return defineConfig({
    clientUrl,
    entities,
    extensions: [Migrator],
    debug: options.debug ?? false,
    // Bounded waits: an unreachable database fails a request instead of hanging it.
    pool: { min: 0, max: 10, acquireTimeoutMillis: 5_000 },
    driverOptions: {
      connection: { connectionTimeoutMillis: 5_000, statement_timeout: 30_000, ssl: postgresSsl(options.ssl) },
    },
    migrations: {
      tableName: 'mikro_orm_migrations',
      path: path.join(__dirname, 'migrations'),
      pathTs: path.join(__dirname, 'migrations'),
      glob: '!(*.d).{js,ts}',
      transactional: true,
      allOrNothing: true,
      emit: 'ts',
      silent: true,
      snapshot: false,
    },
  });
}

/** Lets `npx mikro-orm migration:create` find the config (DATABASE_URL must be set). */
export default ormConfig(
  process.env.DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/redcap_scan_monitor',
);
