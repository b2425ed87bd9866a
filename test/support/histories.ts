/**
 * Recorded workflow histories for replay tests, in Temporal's JSON form (what `temporal workflow show --output
 * json` and the Web UI's download give), read and written with the SDK's historyFromJSON/historyToJSON.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PayloadCodec } from '@temporalio/common';
import { visit, walkGetWorkflowExecutionHistoryResponse } from '@temporalio/common/lib/internal-non-workflow';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

export const HISTORIES_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');

export function writeHistory(file: string, history: History): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${historyToJSON(history)}\n`);
}

export function readHistory(file: string): History {
  return historyFromJSON(JSON.parse(fs.readFileSync(file, 'utf8')));
}

/**
 * Every recorded history under `dir`, subdirectories included (e.g. release-0.1.0/), sorted by path. Its name
 * (and the workflow id it replays under) is its path without `.history.json`, e.g.
 * `release-0.1.0/scan-import-mid-wait`.
 */
export function recordedHistories(dir = HISTORIES_DIR): Array<{ name: string; workflowId: string; history: History }> {
  if (!fs.existsSync(dir)) return [];
  const files = (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((file) => file.split(path.sep).join('/'))
    .filter((file) => file.endsWith('.history.json'))
    .sort();
  return files.map((file) => {
    const name = file.replace(/\.history\.json$/, '');
    return { name, workflowId: name, history: readHistory(path.join(dir, file)) };
  });
}

/**
 * A copy of `history` with its payloads run through `codec` (encrypted), as a worker and client with that codec
 * would have left it: inputs, results, signals, memos, summaries, failure details. Markers are left as they are
 * (the SDK's core writes patch markers itself, never through the codec), and so are search attributes.
 */
export async function encodedHistory(history: History, codec: PayloadCodec): Promise<History> {
  const copy = temporal.api.history.v1.History.decode(temporal.api.history.v1.History.encode(history).finish());
  for (const event of copy.events) {
    if (event.markerRecordedEventAttributes) continue;
    await visit({ history: { events: [event] } }, walkGetWorkflowExecutionHistoryResponse, {
      transformPayload: async (payload) => (await codec.encode([payload]))[0],
      transformPayloads: (payloads) => codec.encode(payloads),
      skipSearchAttributes: true,
    });
  }
  return copy;
}
