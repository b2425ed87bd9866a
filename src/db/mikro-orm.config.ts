/** The one MikroORM configuration: the CLI, the API, the worker and the tests all use it. */
import { defineConfig } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import path from 'node:path';
import { entities } from './entities';

export function ormConfig(clientUrl: string, options: { debug?: boolean } = {}) {
  return defineConfig({
    clientUrl,
    entities,
    extensions: [Migrator],
    debug: options.debug ?? false,
    // Bounded waits: an unreachable database fails a request instead of hanging it.
    pool: { min: 0, max: 10, acquireTimeoutMillis: 5_000 },
    driverOptions: { connection: { connectionTimeoutMillis: 5_000, statement_timeout: 30_000 } },
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
