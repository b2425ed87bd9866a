/**
 * The API's REDCap config cache against real PostgreSQL: `config apply` (the lab-config code, on its own
 * connection, as the CLI runs it) changes a config and the lookups see the change as soon as PostgreSQL has
 * delivered the notification (the table's trigger NOTIFYs at commit; the cache, LISTENing, empties itself).
 * There is no expiry: between changes the cache answers without reading.
 */
import pino from 'pino';
import { RedcapConfig } from '../../src/db/entities';
import type { Orm } from '../../src/db/orm';
import { openDatabase } from '../../src/db/orm';
import { watchedConfigCache } from '../../src/redcap/config-cache';
import { createTestDatabase } from '../support/db';
import { applySmallLab, smallLabConfig } from '../support/lab-config';
import { applyLabConfig, parseLabConfig } from '../../src/lab-config';
import { eventually } from '../support/processes';

let orm: Orm;
let cli: Orm;
let url: string;
const redcapUrl = 'https://redcap.example.org/';
const key = { url: redcapUrl, project: 1234, instrument: 'mri_scan_log' };

beforeAll(async () => {
  ({ orm, url } = await createTestDatabase());
  cli = await openDatabase(url); // `config apply` runs in a process of its own
});

afterAll(async () => {
  await cli.close();
  await orm.close();
});

test('config apply changes a config: the next lookup reads the new one; no change: no read', async () => {
  const watched = watchedConfigCache(url, pino({ level: 'silent' }));
  let reads = 0;
  const lookup = () =>
    watched.cache.get(key, () => {
      reads++;
      return orm.em.fork().findOne(RedcapConfig, key);
    });
  try {
    expect(await lookup()).toBeNull(); // before the LISTEN is up: read, not kept
    // Once the cache is in use, "no config" is kept: a second lookup reads nothing.
    await eventually(async () => {
      const before = reads;
      await lookup();
      await lookup();
      return reads === before + 1;
    }, 'the cache to listen');

    await applySmallLab(cli.em.fork(), redcapUrl, 'token-one');
    await eventually(async () => (await lookup())?.completedValue === '2', 'the applied config');
    const readsBefore = reads;
    expect(await lookup()).toMatchObject({ completedField: 'mri_scan_log_complete', completedValue: '2' });
    expect(reads).toBe(readsBefore);

    const changed = smallLabConfig(redcapUrl, 'token-one').replace('completedValue: "2"', 'completedValue: "1"');
    await applyLabConfig(cli.em.fork(), parseLabConfig(changed).config);
    await eventually(async () => (await lookup())?.completedValue === '1', 'the changed config');
    const readsAfter = reads; // read again after the change, and kept again
    expect(readsAfter).toBeGreaterThan(readsBefore);
    await lookup();
    expect(reads).toBe(readsAfter);
  } finally {
    await watched.close();
  }
});
