/** The DET's in-memory cache of REDCap configs: used only while changes are heard, emptied by each change. */
import { RedcapConfigCache, type TriggerConfig } from '../../src/redcap/config-cache';

const key = { url: 'https://redcap.example.org/', project: 1234, instrument: 'mri_scan_log' };
const stored = {
  id: 1,
  ...key,
  completedField: 'mri_scan_log_complete',
  completedValue: '2',
  version: '14.5.2',
  token: 'secret-token',
};

function listeningCache() {
  const cache = new RedcapConfigCache();
  cache.setListening(true);
  return cache;
}

test('while changes are heard a config is read once, as a plain copy of what the trigger needs', async () => {
  const cache = listeningCache();
  const load = jest.fn(async () => stored as TriggerConfig);
  expect(await cache.get(key, load)).toEqual({
    id: 1,
    ...key,
    completedField: 'mri_scan_log_complete',
    completedValue: '2',
    version: '14.5.2',
    detVersion: undefined,
  });
  await cache.get({ ...key }, load);
  expect(load).toHaveBeenCalledTimes(1);
});

test('a change empties the cache, "no config" too: the next trigger reads the database', async () => {
  const cache = listeningCache();
  expect(await cache.get(key, async () => null)).toBeNull();
  expect(await cache.get(key, async () => stored)).toBeNull();
  cache.changed();
  expect(await cache.get(key, async () => stored)).toMatchObject({ id: 1 });
  cache.changed();
  expect(await cache.get(key, async () => ({ ...stored, completedValue: '1' }))).toMatchObject({ completedValue: '1' });
});

test('while changes are not heard nothing is kept', async () => {
  const cache = new RedcapConfigCache();
  const load = jest.fn(async () => stored);
  await cache.get(key, load);
  await cache.get(key, load);
  expect(load).toHaveBeenCalledTimes(2);

  cache.setListening(true);
  await cache.get(key, load);
  await cache.get(key, load);
  expect(load).toHaveBeenCalledTimes(3);
  cache.setListening(false); // the connection dropped: changes from now on could be missed
  await cache.get(key, load);
  expect(load).toHaveBeenCalledTimes(4);
});

test('other projects, instruments and servers are other keys', async () => {
  const cache = listeningCache();
  await cache.get(key, async () => stored);
  for (const other of [
    { ...key, project: 99 },
    { ...key, instrument: 'other' },
    { ...key, url: 'https://other.example.org/' },
  ]) {
    expect(await cache.get(other, async () => null)).toBeNull();
  }
});

test('concurrent triggers share one load; a failed load is not kept', async () => {
  const cache = listeningCache();
  let release: (value: TriggerConfig) => void = () => undefined;
  const load = jest.fn(() => new Promise<TriggerConfig>((resolve) => (release = resolve)));
  const both = Promise.all([cache.get(key, load), cache.get(key, load)]);
  release(stored);
  expect(await both).toEqual([expect.objectContaining({ id: 1 }), expect.objectContaining({ id: 1 })]);
  expect(load).toHaveBeenCalledTimes(1);

  const other = { ...key, project: 5 };
  await expect(cache.get(other, async () => Promise.reject(new Error('database down')))).rejects.toThrow(
    'database down',
  );
  expect(await cache.get(other, async () => ({ ...stored, project: 5 }))).toMatchObject({ project: 5 });
});

test('at most 1000 keys are kept, the oldest dropped first', async () => {
  const cache = listeningCache();
  for (let project = 0; project <= 1000; project++) await cache.get({ ...key, project }, async () => null);
  const load = jest.fn(async () => null);
  await cache.get({ ...key, project: 1000 }, load);
  expect(load).not.toHaveBeenCalled();
  await cache.get({ ...key, project: 0 }, load);
  expect(load).toHaveBeenCalledTimes(1);
});
