/**
 * Every text a workflow history holds, for tests that look for what must not be there (participant data, email
 * text): the payloads (inputs, results, signals, details, memo, search attributes) decoded from JSON, and every
 * string field (failure messages, their stack traces, names), one per line.
 */
import type { temporal } from '@temporalio/proto';

export function historyText(history: temporal.api.history.v1.IHistory): string {
  const texts: string[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === 'string') texts.push(value);
    else if (value instanceof Uint8Array) texts.push(Buffer.from(value).toString('utf8'));
    else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit(history.events ?? []);
  return texts.join('\n');
}
