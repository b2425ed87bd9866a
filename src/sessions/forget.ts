/**
 * Forgetting a participant's data (docs/participant-data.md, `npm run cli -- forget`): in one transaction, every text
 * of a REDCap record and of its sessions that our database keeps. Of the record: its stored comment, scan date and
 * user; the detail of its failed intakes (which may quote what the RA typed) and the reason and typed session id of
 * its problems. Of its sessions: the date, the cancel reason, the no-scans comment and who wrote it, the dismissals'
 * comments and the output their jobs printed. Of both: the subject, recipients and send error of their emails, sent
 * or held. What identifies them stays (record name, session id, the email ledger's and the hourly limit's keys, a
 * failure's row digest), so no email is sent twice and reconciliation files nothing again: ids, not the
 * participant's words. Temporal's histories are not ours to edit: the report names the workflows whose histories
 * hold ids of them.
 *
 * REDCap stays the source: a form saved again there, or a reconciliation that finds the record changed, files it
 * again. Delete or correct the data in REDCap first.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { NotFoundError } from '../errors';
import { RedcapRecord, Session, SessionRedcap } from '../db/entities';
import { IntakeFailure } from '../db/intake-failure';
import { Problem } from '../db/lab-data';
import { intakeProblemKey } from '../lab-data/problems';
import { legacyRedcapIntakeWorkflowId } from '../temporal/intakes';
import {
  redcapIntakeWorkflowId,
  redcapReconcileScheduleId,
  scanDownloadWorkflowId,
  scanImportWorkflowId,
  type IntakeTrigger,
} from '../../surface';

export type ForgetTarget = { configId: number; record: string } | { sessionId: string };

export interface ForgetReport {
  /** The stored REDCap rows whose fields were cleared. */
  records: Array<{ id: number; configId: number; record: string; eventName: string; instance: number | null }>;
  /** The sessions whose date and texts were cleared. */
  sessions: string[];
  /** How many rows of each kind had their text cleared. */
  cleared: {
    intakeFailures: number;
    problems: number;
    dismissals: number;
    jobRuns: number;
    /** Rows of the email ledger (sent_email). */
    emails: number;
    /** Emails the hourly limit held back (held_email). */
    heldEmails: number;
  };
  /** Workflows whose histories may hold the record's and sessions' ids. */
  workflowIds: string[];
  /** Reconciliation schedules whose runs may name the record. */
  scheduleIds: string[];
}

/** RedcapRecordMonitor's id (contract "XNAT": `redcap-record:<sessionId>`). */
const redcapRecordMonitorId = (sessionId: string) => `redcap-record:${sessionId}`;

const marks = (values: unknown[]) => values.map(() => '?').join(', ');

export async function forgetParticipantData(em: EntityManager, target: ForgetTarget): Promise<ForgetReport> {
  return em.transactional(async (tx) => {
    const found = 'sessionId' in target ? await ofSession(tx, target.sessionId) : await ofRecord(tx, target);
    const { records, failures, problems, pinned, sessionIds } = found;
    const connection = tx.getConnection();
    const run = async (sql: string, params: unknown[]) =>
      (await connection.execute<{ affectedRows: number }>(sql, params, 'run')).affectedRows;
    const cleared: ForgetReport['cleared'] = {
      intakeFailures: 0,
      problems: 0,
      dismissals: 0,
      jobRuns: 0,
      emails: 0,
      heldEmails: 0,
    };

    const recordIds = records.map((record) => record.id);
    if (recordIds.length > 0)
      await run(
        `update redcap_record set comment = '', "user" = null, entry_date = null where id in (${marks(recordIds)})`,
        recordIds,
      );
    const failureIds = failures.map((failure) => failure.id);
    if (failureIds.length > 0)
      cleared.intakeFailures = await run(
        `update intake_failure set detail = '' where id in (${marks(failureIds)})`,
        failureIds,
      );
    const problemIds = problems.map((problem) => problem.id);
    if (problemIds.length > 0)
      cleared.problems = await run(
        `update problem set reason = '', session_name = null where id in (${marks(problemIds)})`,
        problemIds,
      );
    if (sessionIds.length > 0) {
      const inSessions = marks(sessionIds);
      await run(
        `update "session" set "date" = null, "monitors_cancel_reason" = null where "id" in (${inSessions})`,
        sessionIds,
      );
      await run(`update empty_session set comment = '', "user" = null where session_id in (${inSessions})`, sessionIds);
      cleared.dismissals = await run(
        `update session_dismissal set comment = '' where session_id in (${inSessions})`,
        sessionIds,
      );
      cleared.jobRuns = await run(
        `update job_run set detail = null where session_id in (${inSessions}) and detail is not null`,
        sessionIds,
      );
    }

    // The record's intakes, under today's ids and those of intakes started before 0.3.0: their failed-intake emails are
    // keyed `<intake workflow id>:<run id>:…`, sent or held.
    const triggers: IntakeTrigger[] = [
      ...records.map((r) => ({
        configId: r.config.id,
        record: r.record,
        eventName: r.eventName,
        instance: r.repeatInstance,
      })),
      ...problems
        .filter((p) => p.redcapConfigId != null && p.record != null && !pinned.includes(p))
        .map((p) => ({
          configId: p.redcapConfigId!,
          record: p.record!,
          eventName: p.eventName,
          instance: p.repeatInstance,
        })),
      ...('configId' in target ? [target] : []),
    ];
    const intakeIds = [
      ...new Set([
        ...triggers.flatMap((t) => [
          redcapIntakeWorkflowId(t.configId, t.record, t.eventName, t.instance),
          legacyRedcapIntakeWorkflowId(t),
        ]),
        ...failures.map((failure) => failure.workflowId),
      ]),
    ];
    const byKey = intakeIds.flatMap((id) => [`${id}:`, `${id}#`]);
    const keyed = byKey.map(() => 'starts_with(key, ?)');
    const where = [...(sessionIds.length > 0 ? [`session_id in (${marks(sessionIds)})`] : []), ...keyed];
    if (where.length > 0)
      cleared.emails = await run(
        `update sent_email set subject = '', recipients = '', error = null where ${where.join(' or ')}`,
        [...sessionIds, ...byKey],
      );
    if (keyed.length > 0)
      cleared.heldEmails = await run(`update held_email set subject = '' where ${keyed.join(' or ')}`, byKey);

    const configIds = new Set(triggers.map((t) => t.configId));
    return {
      records: records.map((r) => ({
        id: r.id,
        configId: r.config.id,
        record: r.record,
        eventName: r.eventName,
        instance: r.repeatInstance || null,
      })),
      sessions: sessionIds,
      cleared,
      workflowIds: [
        ...intakeIds,
        ...sessionIds.flatMap((id) => [
          scanImportWorkflowId(id),
          scanDownloadWorkflowId(id),
          redcapRecordMonitorId(id),
        ]),
      ],
      scheduleIds: [...configIds].map(redcapReconcileScheduleId),
    };
  });
}

interface Found {
  records: RedcapRecord[];
  failures: IntakeFailure[];
  /** The record's problems, and those pinned on its sessions. */
  problems: Problem[];
  /** Of those, the ones of another record (typed with the session's id): their text goes, their record stays. */
  pinned: Problem[];
  sessionIds: string[];
}

/** A record (every event and instance of it): stored, or known only by its failed intakes or problems. */
async function ofRecord(em: EntityManager, target: { configId: number; record: string }): Promise<Found> {
  const { configId, record } = target;
  const records = await em.find(RedcapRecord, { config: configId, record }, { orderBy: { id: 'asc' } });
  const failures = await em.find(IntakeFailure, { config: configId, record });
  const problems = await em.find(Problem, { redcapConfigId: configId, record });
  if (records.length + failures.length + problems.length === 0)
    throw new NotFoundError(`No REDCap record ${record} is stored for REDCap config ${configId}`);
  const sessionIds = await sessionsOf(em, records);
  return { records, failures, ...withPinned(problems, await pinnedOn(em, sessionIds)), sessionIds };
}

/** A session, and the REDCap record (event and instance) filed against it. */
async function ofSession(em: EntityManager, rawId: string): Promise<Found> {
  const session = await em.findOne(Session, { id: rawId.toUpperCase() });
  if (!session) throw new NotFoundError(`No session ${rawId}`);
  const link = await em.findOne(SessionRedcap, { session: session.id }, { populate: ['record'] });
  const records = link?.record ? [link.record] : [];
  const rows = records.map((r) => ({
    config: r.config.id,
    record: r.record,
    eventName: r.eventName,
    repeatInstance: r.repeatInstance,
  }));
  const keys = records.map((r) =>
    intakeProblemKey({ configId: r.config.id, record: r.record, eventName: r.eventName, instance: r.repeatInstance }),
  );
  const problems = keys.length > 0 ? await em.find(Problem, { key: { $in: keys } }) : [];
  return {
    records,
    failures: rows.length > 0 ? await em.find(IntakeFailure, { $or: rows }) : [],
    ...withPinned(problems, await pinnedOn(em, [session.id])),
    sessionIds: [session.id],
  };
}

/** The problems pinned on the sessions (a problem of another record of theirs, e.g. one typed with their id). */
const pinnedOn = (em: EntityManager, sessionIds: string[]) =>
  sessionIds.length > 0 ? em.find(Problem, { sessionId: { $in: sessionIds } }) : Promise.resolve([]);

function withPinned(own: Problem[], onSessions: Problem[]): Pick<Found, 'problems' | 'pinned'> {
  const pinned = onSessions.filter((p) => !own.some((q) => q.id === p.id));
  return { problems: [...own, ...pinned], pinned };
}

async function sessionsOf(em: EntityManager, records: RedcapRecord[]): Promise<string[]> {
  if (records.length === 0) return [];
  const links = await em.find(SessionRedcap, { record: { $in: records.map((r) => r.id) } });
  return [...new Set(links.map((link) => link.session.id))];
}
