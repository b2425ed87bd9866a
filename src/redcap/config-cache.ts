/**
 * The REDCap configs the Data Entry Trigger looks up, kept in memory for a few seconds: a burst of triggers costs one
 * database query per config, and a `config apply` from another process is seen within CONFIG_CACHE_MS
 * (docs/operating.md). "No config" is kept as long, so a change either way shows within that bound.
 */

/** How long a looked-up config (or its absence) is used before the database is asked again. */
export const CONFIG_CACHE_MS = 5_000;

/** At most this many (url, project, instrument) keys are kept; the oldest goes first. */
const MAX_ENTRIES = 1_000;

/** What the trigger needs of a config: its id (the intake's input), where it is, its completion rule, REDCap's version. */
export interface TriggerConfig {
  id: number;
  url: string;
  project: number;
  instrument: string;
  completedField: string;
  completedValue: string;
  version: string;
  detVersion?: string | null;
}

export interface ConfigKey {
  url: string;
  project: number;
  instrument: string;
}

export class RedcapConfigCache {
  private readonly entries = new Map<string, { config: Promise<TriggerConfig | null>; expires: number }>();

  constructor(
    private readonly lifetimeMs = CONFIG_CACHE_MS,
    private readonly now = () => Date.now(),
  ) {}

  /** The config for `key`: from memory while fresh, else from `load` (one load at a time per key; a failure is not kept). */
  get(key: ConfigKey, load: () => Promise<TriggerConfig | null>): Promise<TriggerConfig | null> {
    const id = JSON.stringify([key.url, key.project, key.instrument]);
    const now = this.now();
    const entry = this.entries.get(id);
    if (entry && entry.expires > now) return entry.config;

    const config = load().then((found) => (found ? pick(found) : null));
    this.entries.delete(id); // re-inserted last: the map's order is the age order
    this.entries.set(id, { config, expires: now + this.lifetimeMs });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    config.catch(() => {
      if (this.entries.get(id)?.config === config) this.entries.delete(id);
    });
    return config;
  }
}

/** A plain copy, never a managed entity of the request that loaded it. */
function pick(config: TriggerConfig): TriggerConfig {
  const { id, url, project, instrument, completedField, completedValue, version, detVersion } = config;
  return { id, url, project, instrument, completedField, completedValue, version, detVersion };
}
