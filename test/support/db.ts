/** A fresh, migrated database per test file on the suite's embedded PostgreSQL. */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { migrate, openDatabase, type Orm } from '../../src/db/orm';

function serverUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is unset: run the tests with `npm test` (jest global setup)');
  return url;
}

export async function createTestDatabase(): Promise<{ orm: Orm; url: string }> {
  const name = `test_${randomUUID().replace(/-/g, '')}`;
  const admin = new Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  const orm = await openDatabase(url.toString());
  await migrate(orm);
  return { orm, url: url.toString() };
}
