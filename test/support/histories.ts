/**
 * Recorded workflow histories for replay tests. Stored as protobufjs objects in JSON (`History.toObject`),
 * loaded with `History.fromObject`: the SDK's own historyToJSON/historyFromJSON fail in this install
 * ("type must be a Type": @temporalio/common and @temporalio/proto each carry a copy of protobufjs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

export const HISTORIES_DIR = path.resolve(__dirname, '..', 'fixtures', 'histories');

export function writeHistory(file: string, history: History): void {
  const object = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), {
    longs: String,
    enums: String,
    bytes: String,
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(object, null, 1)}\n`);
}

export function readHistory(file: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(file, 'utf8')));
}

/**
 * Every recorded history under `dir`, subdirectories included (e.g. release-0.1.0/), sorted by path. Its name
 * (and the workflow id it replays under) is its path without `.history.json`, e.g.
 * `release-0.1.0/scan-import-mid-wait`.
 */
export function recordedHistories(dir = HISTORIES_DIR): Array<{ name: string; workflowId: string; history: temporal.api.history.v1.History }> {
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
