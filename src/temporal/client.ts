/** The one place that connects to Temporal. */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { StartupError } from '../startup-failure';
import { searchAttributes } from '../../surface';

export interface TemporalSettings {
  address: string;
  namespace: string;
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

export async function connectTemporal(settings: TemporalSettings): Promise<Client> {
  try {
    // connectTimeout bounds the first dial; calls after that carry their own deadlines.
    const connection = await Connection.connect({ address: settings.address, connectTimeout: '5 seconds' });
    return new Client({ connection, namespace: settings.namespace });
  } catch (err) {
    throw new TemporalUnavailableError(
      `cannot reach Temporal at ${settings.address} (${err instanceof Error ? err.message.split('\n')[0] : String(err)}): is it running? (TEMPORAL_ADDRESS)`,
    );
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
