/**
 * The REDCap configs the Data Entry Trigger looks up, kept in memory by the API: a burst of triggers costs no
 * database query. Never stale: a trigger on `redcap_config` (migration Migration20261126120000) sends
 * `NOTIFY redcap_config_changed` with every transaction that changes the table, whoever changes it (`config apply`
 * in another process, an intake noting REDCap's version, psql), and PostgreSQL delivers it when that
 * transaction commits. This process LISTENs on a connection of its own and empties the cache on each
 * notification. While that connection is down (at start, or after it failed) the cache is empty and unused:
 * every trigger reads the database, as without a cache, until the connection is back (tried every 5 s).
 */
import type { ConnectionOptions } from 'node:tls';
import { Client } from 'pg';
import type { Logger } from '../logger';

export const CONFIG_CHANGED_CHANNEL = 'redcap_config_changed';

/** How long after a lost connection the listener connects again. */
const RECONNECT_MS = 5_000;

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
  private readonly entries = new Map<string, Promise<TriggerConfig | null>>();
  private listening = false;

  /** The config for `key`: from memory while the cache is in use, else from `load` (one load at a time per key; a failure is not kept). */
  get(key: ConfigKey, load: () => Promise<TriggerConfig | null>): Promise<TriggerConfig | null> {
    if (!this.listening) return load().then(pick);
    const id = JSON.stringify([key.url, key.project, key.instrument]);
    const cached = this.entries.get(id);
    if (cached) return cached;

    const config = load().then(pick);
    this.entries.set(id, config);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    config.catch(() => {
      if (this.entries.get(id) === config) this.entries.delete(id);
    });
    return config;
  }

  /** redcap_config changed: forget everything (a load under way is not kept either). */
  changed(): void {
    this.entries.clear();
  }

  /** Whether changes are heard: the cache is used only then. */
  /** True while changes are heard (LISTEN), so that entries are kept. */
  isListening(): boolean {
    return this.listening;
  }

  setListening(listening: boolean): void {
    this.entries.clear();
    this.listening = listening;
  }
}

/** A plain copy, never a managed entity of the request that loaded it. */
function pick(config: TriggerConfig | null): TriggerConfig | null {
  if (!config) return null;
  const { id, url, project, instrument, completedField, completedValue, version, detVersion } = config;
  return { id, url, project, instrument, completedField, completedValue, version, detVersion };
}

/** A cache kept right by LISTEN on a connection of its own to `databaseUrl` (with the ORM's TLS, `ssl`); close() ends it. */
export function watchedConfigCache(
  databaseUrl: string,
  log: Logger,
  ssl: ConnectionOptions | false = false,
): { cache: RedcapConfigCache; close(): Promise<void> } {
  const cache = new RedcapConfigCache();
  let closed = false;
  let current: Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const lost = (client: Client, err?: unknown) => {
    if (current !== client) return;
    current = undefined;
    cache.setListening(false);
    client.end().catch(() => undefined);
    if (closed) return;
    log.warn(
      { err },
      `REDCap config changes not heard (LISTEN ${CONFIG_CHANGED_CHANNEL}); triggers read the database until the connection is back`,
    );
    retry = setTimeout(connect, RECONNECT_MS);
  };
  const connect = () => {
    const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000, ssl });
    current = client;
    client.on('notification', () => cache.changed());
    client.on('error', (err) => lost(client, err));
    client.on('end', () => lost(client));
    client
      .connect()
      .then(() => client.query(`LISTEN ${CONFIG_CHANGED_CHANNEL}`))
      .then(() => {
        if (current === client) cache.setListening(true);
      })
      .catch((err: unknown) => lost(client, err));
  };
  connect();

  return {
    cache,
    async close() {
      closed = true;
      clearTimeout(retry);
      const client = current;
      current = undefined;
      cache.setListening(false);
      await client?.end().catch(() => undefined);
    },
  };
}
