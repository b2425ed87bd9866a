/** The one place that connects to Temporal. */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import type { Config } from '../config';
import { StartupError } from '../startup-failure';
import { searchAttributes } from '../../surface';
import { serviceDataConverter, type CodecKey } from './data-converter';

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** TLS (TEMPORAL_TLS_*); undefined: plain TCP. */
  tls?: TLSConfig;
  /** Payload encryption keys (TEMPORAL_CODEC_KEYS); empty or undefined: payloads as they are. */
  codecKeys?: CodecKey[];
}

/** How to reach `address` (default TEMPORAL_ADDRESS): TLS applies to TEMPORAL_ADDRESS only, never to the embedded dev server. */
export function temporalSettings(config: Config, address = config.temporalAddress): TemporalSettings {
  if (!address) throw new StartupError('TEMPORAL_ADDRESS is unset');
  return {
    address,
    namespace: config.temporalNamespace,
    tls: address === config.temporalAddress ? config.temporalTls : undefined,
    codecKeys: config.codecKeys,
  };
}

/** A connection that failed at start, in one line naming what to check. */
export function temporalUnavailable(settings: TemporalSettings, err: unknown): TemporalUnavailableError {
  const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
  const check = settings.tls ? 'TEMPORAL_ADDRESS and TEMPORAL_TLS_*' : 'TEMPORAL_ADDRESS';
  return new TemporalUnavailableError(
    `cannot reach Temporal at ${settings.address} (${reason}): is it running? (${check})`,
  );
}

/** The Temporal dev server `npm start` runs where TEMPORAL_ADDRESS is unset (on EMBEDDED_TEMPORAL_PORT): its SQLite file under DATA_DIR. */
export const embeddedTemporalFile = (dataDir: string) => path.join(dataDir, 'temporal.sqlite');

/**
 * The Temporal an operator command talks to: TEMPORAL_ADDRESS, else the dev server of `npm start` when it has run on
 * this DATA_DIR; undefined when there is neither.
 */
export function commandTemporalAddress(settings: {
  temporalAddress?: string;
  dataDir: string;
  embeddedTemporalPort: number;
}): string | undefined {
  if (settings.temporalAddress) return settings.temporalAddress;
  return fs.existsSync(embeddedTemporalFile(settings.dataDir))
    ? `127.0.0.1:${settings.embeddedTemporalPort}`
    : undefined;
}

/** Temporal does not answer at start. */
export class TemporalUnavailableError extends StartupError {}

/** A client of the service: with its TLS and its data converter (payload encryption), as every process uses. */
export async function connectTemporal(settings: TemporalSettings): Promise<Client> {
  try {
    // connectTimeout bounds the first dial; calls after that carry their own deadlines.
    const connection = await Connection.connect({
      address: settings.address,
      connectTimeout: '5 seconds',
      ...(settings.tls ? { tls: settings.tls } : {}),
    });
    return new Client({
      connection,
      namespace: settings.namespace,
      dataConverter: serviceDataConverter(settings.codecKeys ?? []),
    });
  } catch (err) {
    throw temporalUnavailable(settings, err);
  }
}

/** True when the Temporal frontend answers within a few seconds. */
export async function temporalAnswers(client: Client): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + 3_000, () => client.connection.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}

/** Registers SessionId, StudyId and SiteId (Keyword) on the namespace; safe to run again. */
export async function registerSearchAttributes(client: Client, namespace: string): Promise<void> {
  const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
  const wanted: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  for (const key of searchAttributes) {
    if (!existing.customAttributes?.[key.name]) {
      wanted[key.name] = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    }
  }
  if (Object.keys(wanted).length === 0) return;
  await client.connection.operatorService.addSearchAttributes({ namespace, searchAttributes: wanted });
}
