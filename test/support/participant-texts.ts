/**
 * Participant text that the test fixtures handed out, for the history scan (test/support/history-scan.ts): the
 * comment and user values of every row the fake REDCap answered with, and the subject and body of every email the
 * test SMTP server received. Each test process keeps its own list in memory and, under the suite (TEST_WORK_DIR set
 * by test/global-setup.ts), in a file of its own, which the suite's teardown reads.
 */
import fs from 'node:fs';
import path from 'node:path';

export type ParticipantTextKind =
  'redcap-comment' | 'redcap-user' | 'redcap-session' | 'redcap-date' | 'email-subject' | 'email-body';

export interface ParticipantText {
  kind: ParticipantTextKind;
  text: string;
}

/**
 * Shorter text is not looked for: `42` (an RA's id in the fixtures) or `ok` turn up in ids and counts by chance,
 * and proves nothing either way.
 */
export const SHORTEST_TEXT = 8;

const seen = new Set<string>();
const registered: Entry[] = [];

function registryDir(): string | undefined {
  const workDir = process.env.TEST_WORK_DIR;
  return workDir ? path.join(workDir, 'participant-texts') : undefined;
}

/** Whitespace runs as one space: an email's body comes back from the SMTP server with its lines joined anew. */
export function normalizedText(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export function registerParticipantText(kind: ParticipantTextKind, text: string): void {
  if (normalizedText(text).length >= SHORTEST_TEXT) keep({ kind, text });
}

/**
 * An id the fixtures handed out (a record name): it is rightly in histories, so participant text that is part of one
 * (hostile tests draw records and comments from one pool: record `R1:toString`, comment `toString`) is not looked for.
 */
export function registerIdText(text: string): void {
  keep({ kind: 'id', text });
}

type Entry = ParticipantText | { kind: 'id'; text: string };

function keep(entry: Entry): void {
  const key = JSON.stringify([entry.kind, entry.text]);
  if (seen.has(key)) return;
  seen.add(key);
  registered.push(entry);
  const dir = registryDir();
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, `${process.pid}.jsonl`), `${JSON.stringify(entry)}\n`);
}

/** The texts to look for, less those that are part of an id. */
function lookedFor(entries: Entry[]): ParticipantText[] {
  const ids = entries.filter((entry) => entry.kind === 'id').map((entry) => normalizedText(entry.text));
  return entries.filter(
    (entry): entry is ParticipantText =>
      entry.kind !== 'id' && !ids.some((id) => id.includes(normalizedText(entry.text))),
  );
}

/** What this process registered. */
export function participantTextsOfThisProcess(): ParticipantText[] {
  return lookedFor(registered);
}

/** What every process of the suite registered (the teardown's list). */
export function participantTextsOfTheSuite(workDir: string): ParticipantText[] {
  const dir = path.join(workDir, 'participant-texts');
  if (!fs.existsSync(dir)) return [];
  const entries = new Map<string, Entry>();
  for (const file of fs.readdirSync(dir)) {
    for (const line of fs.readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (line) entries.set(line, JSON.parse(line) as Entry);
    }
  }
  return lookedFor([...entries.values()]);
}
