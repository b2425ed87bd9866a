/**
 * The monitors' messages to the admins. Pure code: each takes the facts about a session and returns
 * the subject and plain-text body. Subjects name the study and the session:
 * `[SPN01] No scan data received for SPN01_CMH_0001_01_01`.
 */
import { recordName } from '../redcap/names';
import { describeTime, xnatCaseLines, xnatFactLine, type XnatFacts } from './xnat';

export interface SessionFacts {
  sessionId: string;
  studyId: string;
  studyName?: string;
  siteId: string;
  /** ISO date of the scan, when known. */
  date?: string | null;
  redcap?: {
    /** Our id of the record: GET /redcap_redirect/<recordId> redirects to it. */
    recordId: number;
    /** The record as REDCap names it. */
    record: string;
    /** The record's data entry page on the REDCap server. */
    url: string;
  } | null;
  /** Where the session's study site has an XNAT project: the project and what XNAT last said (src/mail/xnat.ts). */
  xnat?: XnatFacts | null;
}

export interface MailContent {
  subject: string;
  text: string;
}

const UNITS: Array<[string, number]> = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
];

/** Exact and readable: "2 days", "36 hours", "90 seconds", "1 hour". */
export function describeDuration(millis: number): string {
  for (const [unit, size] of UNITS) {
    if (millis >= size && millis % size === 0) {
      const count = millis / size;
      return `${count} ${unit}${count === 1 ? '' : 's'}`;
    }
  }
  return millis >= 1_000 ? `${(millis / 1_000).toFixed(1)} seconds` : `${millis} ms`;
}

function sessionLines(facts: SessionFacts): string[] {
  const lines = [
    `Session: ${facts.sessionId}`,
    `Study:   ${facts.studyId}${facts.studyName ? ` (${facts.studyName})` : ''}`,
    `Site:    ${facts.siteId}`,
    `Scanned: ${facts.date ?? 'date not recorded'}`,
  ];
  if (facts.redcap) {
    lines.push(
      `REDCap record ${facts.redcap.record}: ${facts.redcap.url}`,
      `  (or GET /redcap_redirect/${facts.redcap.recordId} on this service)`,
    );
  } else {
    lines.push('REDCap record: none linked');
  }
  if (facts.xnat) lines.push(xnatFactLine(facts.xnat));
  return lines;
}

const footer = (sessionId: string) => [
  '',
  '-- ',
  'Sent once by redcap-scan-monitor. The monitors of this session are in the Temporal Web UI:',
  `filter with SessionId="${sessionId}".`,
];

export function noScansEmail(facts: SessionFacts, waitedMs: number): MailContent {
  return {
    subject: `[${facts.studyId}] No scan data received for ${facts.sessionId}`,
    text: [
      `REDCap says ${facts.sessionId} was scanned, but after waiting ${describeDuration(waitedMs)} no scan data has arrived for it.`,
      ...(facts.xnat
        ? ['', ...xnatCaseLines(facts.sessionId, facts.xnat, { downloaded: false }), '']
        : ['Please check that the data was sent from the scanner.']),
      'If this session will have no data, nothing more is needed: this email is not repeated.',
      '',
      ...sessionLines(facts),
      ...footer(facts.sessionId),
    ].join('\n'),
  };
}

/**
 * RedcapRecordMonitor: XNAT has the session, and REDCap has had no record for it since the XNAT sync found it
 * (REDCAP_RECORD_DELAY).
 */
export function noRedcapRecordEmail(
  facts: SessionFacts,
  details: { waitedMs: number; foundAt?: string | null },
): MailContent {
  const found = details.foundAt ? ` (found there ${describeTime(details.foundAt)})` : '';
  return {
    subject: `[${facts.studyId}] No REDCap record for ${facts.sessionId}`,
    text: [
      `XNAT has ${facts.sessionId}${found}, but after waiting ${describeDuration(details.waitedMs)} no REDCap record names it.`,
      "Please check that the session's REDCap form was saved, with this session id (a mistyped id leaves it unmatched).",
      'If no REDCap record will come for it (a pilot, a test), nothing more is needed: this email is not repeated.',
      '',
      ...sessionLines(facts),
      ...footer(facts.sessionId),
    ].join('\n'),
  };
}

/** Why an intake of a REDCap record failed, for the admins' email (RedcapIntakeWorkflow). */
export interface IntakeFailure {
  configId: number;
  record: string;
  eventName?: string | null;
  /** The repeat instance, for a repeating instrument or event. */
  instance?: number | null;
  message: string;
  /** The failure type the workflow ended with, e.g. InvalidSessionIdError. */
  type: string;
  workflowId: string;
  runId: string;
}

export function intakeFailedEmail(failure: IntakeFailure): MailContent {
  const record = recordName(failure.record, failure.eventName, failure.instance);
  return {
    subject: `REDCap record ${record} could not be filed`,
    text: [
      `The REDCap Data Entry Trigger for record ${record} (REDCap config ${failure.configId}) could not be filed:`,
      '',
      `  ${failure.message}`,
      '',
      `Temporal workflow ${failure.workflowId} (run ${failure.runId}) failed with ${failure.type}; no monitors were started for this record.`,
      'Fix the record (or the lab config) and save the form in REDCap again: the new trigger starts a new intake.',
    ].join('\n'),
  };
}

export function downloadGaveUpEmail(
  facts: SessionFacts,
  details: { windowMs: number; endTime: string; attempts: number },
): MailContent {
  const window = `${describeDuration(details.windowMs)} (until ${details.endTime})`;
  const waitedForXnat = details.attempts === 0 && facts.xnat && facts.xnat.state?.state !== 'archived';
  return {
    subject: `[${facts.studyId}] Scan download gave up for ${facts.sessionId}`,
    text: [
      waitedForXnat
        ? `The download job for ${facts.sessionId} was never submitted: over ${window} XNAT did not have the session archived, and no scan data has arrived.`
        : `The download job for ${facts.sessionId} was submitted ${details.attempts} time${details.attempts === 1 ? '' : 's'} ` +
          `over ${window}, and no scan data has arrived.`,
      ...(facts.xnat
        ? ['', ...xnatCaseLines(facts.sessionId, facts.xnat, { downloaded: details.attempts > 0 })]
        : ['Please fetch the data by hand, or check the download job and its log.']),
      '',
      ...sessionLines(facts),
      ...footer(facts.sessionId),
    ].join('\n'),
  };
}

/** What reconciliation found in a day's first run that started intakes (RedcapReconcileWorkflow). */
export interface MissedTriggers {
  configId: number;
  url: string;
  project: number;
  instrument: string;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  count: number;
  /** The first few rows, as `17`, `CMH0042 (month_6_arm_1)`, `Zoë 7 #2`. */
  sample: string[];
}

export function missedTriggersEmail(missed: MissedTriggers): MailContent {
  const records = `${missed.count} record${missed.count === 1 ? '' : 's'}`;
  const more = missed.count - missed.sample.length;
  return {
    subject: `REDCap project ${missed.project} (${missed.instrument}): ${records} arrived without a Data Entry Trigger`,
    text: [
      `Reconciliation found ${records} of REDCap project ${missed.project}, instrument ${missed.instrument} at ${missed.url},`,
      'completed in REDCap but never announced to us by a Data Entry Trigger. Their intakes have now been started:',
      '',
      ...missed.sample.map((row) => `  ${row}`),
      ...(more > 0 ? [`  … and ${more} more`] : []),
      '',
      'Check the Data Entry Trigger URL in REDCap (Project Setup → Additional customizations → Data Entry Trigger):',
      "it must be this service's /redcap, with ?secret= when DET_SECRET is set. Triggers are also lost while the",
      'service is down, and REDCap sends none for API or CSV imports.',
      '',
      '-- ',
      `Sent at most once a day (this one for ${missed.day}, UTC) by redcap-scan-monitor. The runs are on the Temporal Web UI's`,
      `Schedules page: redcap-reconcile:${missed.configId}.`,
    ].join('\n'),
  };
}
