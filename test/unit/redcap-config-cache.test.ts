/** The DET's in-memory cache of REDCap configs: a short lifetime, one load at a time, failures not kept. */
import { CONFIG_CACHE_MS, RedcapConfigCache, type TriggerConfig } from '../../src/redcap/config-cache';

const key = { url: 'https://redcap.example.org/', project: 1234, instrument: 'mri_scan_log' };
const stored = { id: 1, ...key, completedField: 'mri_scan_log_complete', completedValue: '2', token: 'secret-token', version: '14.5.2' };

function clockedCache() {
  let now = 1_000_000;
  const cache = new RedcapConfigCache(CONFIG_CACHE_MS, () => now);
  return { cache, advance: (ms: number) => (now += ms) };
}

test('a config is read once per lifetime, as a plain copy of what the trigger needs', async () => {
  const { cache, advance } = clockedCache();
  const load = jest.fn(async () => stored as TriggerConfig);
  expect(await cache.get(key, load)).toEqual({ id: 1, ...key, completedField: 'mri_scan_log_complete', completedValue: '2' });
  advance(CONFIG_CACHE_MS - 1);
  await cache.get({ ...key }, load);
  expect(load).toHaveBeenCalledTimes(1);
  advance(1);
  await cache.get(key, load);
  expect(load).toHaveBeenCalledTimes(2);
});

test('no config is kept as long: a config applied meanwhile is seen once the lifetime has passed', async () => {
  const { cache, advance } = clockedCache();
  expect(await cache.get(key, async () => null)).toBeNull();
  expect(await cache.get(key, async () => stored)).toBeNull();
  advance(CONFIG_CACHE_MS);
  expect(await cache.get(key, async () => stored)).toMatchObject({ id: 1 });
});

test('other projects, instruments and servers are other keys', async () => {
  const { cache } = clockedCache();
  await cache.get(key, async () => stored);
  for (const other of [{ ...key, project: 99 }, { ...key, instrument: 'other' }, { ...key, url: 'https://other.example.org/' }]) {
    expect(await cache.get(other, async () => null)).toBeNull();
  }
});

test('concurrent triggers share one load; a failed load is not kept', async () => {
  const { cache } = clockedCache();
  let release: (value: TriggerConfig) => void = () => undefined;
  const load = jest.fn(() => new Promise<TriggerConfig>((resolve) => (release = resolve)));
  const both = Promise.all([cache.get(key, load), cache.get(key, load)]);
  release(stored);
  expect(await both).toEqual([expect.objectContaining({ id: 1 }), expect.objectContaining({ id: 1 })]);
  expect(load).toHaveBeenCalledTimes(1);

  const other = { ...key, project: 5 };
  await expect(cache.get(other, async () => Promise.reject(new Error('database down')))).rejects.toThrow('database down');
  expect(await cache.get(other, async () => ({ ...stored, project: 5 }))).toMatchObject({ project: 5 });
});

test('at most 1000 keys are kept, the oldest dropped first', async () => {
  const { cache } = clockedCache();
  for (let project = 0; project <= 1000; project++) await cache.get({ ...key, project }, async () => null);
  const load = jest.fn(async () => null);
  await cache.get({ ...key, project: 1000 }, load);
  expect(load).not.toHaveBeenCalled();
  await cache.get({ ...key, project: 0 }, load);
  expect(load).toHaveBeenCalledTimes(1);
});
