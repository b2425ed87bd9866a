/**
 * Looks for participant text in workflow histories (issue 23, docs/temporal.md "What the histories hold"): every
 * payload of every event (inputs, results, signals, markers, memos, search attributes, failure details) decoded, and
 * every other text of the event (failure messages and stack traces), searched for each registered text
 * (test/support/participant-texts.ts). A finding names the workflow, the event and the field.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { normalizedText, type ParticipantText } from './participant-texts';

type History = temporal.api.history.v1.IHistory;
const { EventType } = temporal.api.enums.v1;

export interface Finding {
  workflowId: string;
  runId: string;
  workflowType: string;
  /** e.g. `event 9 ACTIVITY_TASK_COMPLETED activityTaskCompletedEventAttributes.result.payloads[0].comment` */
  field: string;
  kind: ParticipantText['kind'];
  /** The text found, cut short. */
  text: string;
}

export interface Scan {
  histories: number;
  texts: number;
  findings: Finding[];
  /** Histories not scanned: run by a frozen release's worker (its code is what labs run, not this checkout's). */
  skipped: number;
}

/** Every text of a history, with where it is: decoded payloads (each string of their JSON) and the event's own. */
export function historyTexts(history: History): Array<{ field: string; text: string }> {
  const texts: Array<{ field: string; text: string }> = [];
  const decoder = new TextDecoder();
  const walk = (value: unknown, field: string): void => {
    if (typeof value === 'string') {
      texts.push({ field, text: value });
    } else if (value instanceof Uint8Array) {
      const raw = decoder.decode(value);
      let decoded: unknown = raw;
      try {
        decoded = JSON.parse(raw);
      } catch {
        // not JSON: the bytes as text
      }
      walk(decoded, field);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${field}[${i}]`));
    } else if (value && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        // A payload's metadata says how it is encoded; its data is what it carries.
        if (key === 'metadata' && 'data' in value) continue;
        walk(item, key === 'data' && 'metadata' in value ? field : field ? `${field}.${key}` : key);
      }
    }
  };
  for (const event of history.events ?? []) {
    const type = EventType[event.eventType ?? 0] ?? String(event.eventType);
    const { eventId: _id, eventTime: _time, eventType: _type, ...attributes } = event;
    walk(attributes, `event ${String(event.eventId)} ${type.replace(/^EVENT_TYPE_/, '')}`);
  }
  return texts.map(({ field, text }) => ({ field: field.replace(/^(event \d+ \w+)\./, '$1 '), text }));
}

/** The registered texts found in one history. */
export function findingsIn(
  history: History,
  run: { workflowId: string; runId: string; workflowType: string },
  texts: ParticipantText[],
): Finding[] {
  const fields = historyTexts(history).map(({ field, text }) => ({ field, text: normalizedText(text) }));
  const all = fields.map((f) => f.text).join('\u0000');
  const findings: Finding[] = [];
  for (const wanted of texts) {
    const text = normalizedText(wanted.text);
    if (!all.includes(text)) continue;
    for (const field of fields.filter((f) => f.text.includes(text)))
      findings.push({ ...run, field: field.field, kind: wanted.kind, text: text.slice(0, 80) });
  }
  return findings;
}

/**
 * Scans the histories of every workflow run `query` lists (all of the namespace by default) for `texts`. Runs whose
 * workflow tasks a frozen release's worker completed (its identity says `release <version>`) are skipped.
 */
export async function scanHistories(client: Client, texts: ParticipantText[], query?: string): Promise<Scan> {
  // Listed raw: the client would decode each run's memo, and a run some test started with the codec would not decode.
  const runs: Array<{ workflowId: string; runId: string; workflowType: string }> = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkflowExecutions({
      namespace: client.options.namespace,
      query: query ?? '',
      nextPageToken,
    });
    for (const execution of page.executions ?? [])
      runs.push({
        workflowId: execution.execution?.workflowId ?? '',
        runId: execution.execution?.runId ?? '',
        workflowType: execution.type?.name ?? '',
      });
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  const scan: Scan = { histories: 0, texts: texts.length, findings: [], skipped: 0 };
  let next = 0;
  const lane = async () => {
    while (next < runs.length) {
      const run = runs[next++];
      const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const frozen = (history.events ?? []).some((event) =>
        / release \d+\.\d+\.\d+$/.test(event.workflowTaskCompletedEventAttributes?.identity ?? ''),
      );
      if (frozen) {
        scan.skipped += 1;
        continue;
      }
      scan.histories += 1;
      scan.findings.push(...findingsIn(history, run, texts));
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return scan;
}

/** A finding as a line of a test failure. */
export function describeFinding(finding: Finding): string {
  const { workflowType, workflowId, runId, kind, text, field } = finding;
  return `${workflowType} ${workflowId} (run ${runId}): ${kind} "${text}" in ${field}`;
}
