/**
 * Forgetting a participant's data (docs/participant-data.md, `npm run cli -- forget`): in one transaction, the stored
 * REDCap fields of a record (comment, scan date, user) and of its sessions (date, cancel reason, the no-scans
 * comment and who wrote it), and the text of their emails (subject, recipients, send error). What identifies them
 * stays (record name, session id, the email ledger's keys, so no email is sent twice): ids, not the participant's
 * words. Temporal's histories are not ours to edit: the report names the workflows whose histories hold ids of them.
 *
 * REDCap stays the source: a form saved again there, or a reconciliation that finds the record changed, files it
 * again. Delete or correct the data in REDCap first.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { NotFoundError } from '../errors';
import { RedcapRecord, Session, SessionRedcap } from '../db/entities';
import {
  redcapIntakeWorkflowId,
  redcapReconcileScheduleId,
  scanDownloadWorkflowId,
  scanImportWorkflowId,
} from '../../surface';

export type ForgetTarget = { configId: number; record: string } | { sessionId: string };

export interface ForgetReport {
  /** The stored REDCap rows whose fields were cleared. */
  records: Array<{ id: number; configId: number; record: string; eventName: string; instance: number | null }>;
  /** The sessions whose date and texts were cleared. */
  sessions: string[];
  /** Rows of the email ledger whose subject and recipients were cleared. */
  emails: number;
  /** Workflows whose histories may hold the record's and sessions' ids (and, before issue 23 item 2, their text). */
  workflowIds: string[];
  /** Reconciliation schedules whose runs may name the record. */
  scheduleIds: string[];
}

export async function forgetParticipantData(em: EntityManager, target: ForgetTarget): Promise<ForgetReport> {
  return em.transactional(async (tx) => {
    const records =
      'sessionId' in target
        ? await tx.find(RedcapRecord, { id: { $in: await linkedRecordIds(tx, target.sessionId) } })
        : await tx.find(RedcapRecord, { config: target.configId, record: target.record }, { orderBy: { id: 'asc' } });
    const sessions = new Set<string>();
    if ('sessionId' in target) {
      const session = await tx.findOne(Session, { id: target.sessionId.toUpperCase() });
      if (!session) throw new NotFoundError(`No session ${target.sessionId}`);
      sessions.add(session.id);
    } else if (records.length === 0) {
      throw new NotFoundError(`No REDCap record ${target.record} is stored for REDCap config ${target.configId}`);
    }
    const recordIds = records.map((record) => record.id);
    for (const link of await tx.find(SessionRedcap, { record: { $in: recordIds } })) sessions.add(link.session.id);
    const sessionIds = [...sessions];

    const connection = tx.getConnection();
    if (recordIds.length > 0)
      await connection.execute(
        `update redcap_record set comment = '', "user" = null, entry_date = null where id in (${recordIds.map(() => '?').join(', ')})`,
        recordIds,
      );
    let emails = 0;
    const intakeIds = records.map((r) => redcapIntakeWorkflowId(r.config.id, r.record, r.eventName, r.repeatInstance));
    if ('configId' in target) intakeIds.push(redcapIntakeWorkflowId(target.configId, target.record));
    if (sessionIds.length > 0) {
      const inSessions = sessionIds.map(() => '?').join(', ');
      await connection.execute(
        `update "session" set "date" = null, "monitors_cancel_reason" = null where "id" in (${inSessions})`,
        sessionIds,
      );
      await connection.execute(
        `update empty_session set comment = '', "user" = null where session_id in (${inSessions})`,
        sessionIds,
      );
    }
    // A session's emails, and the failed-intake emails of the record (keyed `<intake workflow id>:<run id>:…`).
    const byKey = [...new Set(intakeIds)].flatMap((id) => [`${id}:`, `${id}#`]);
    const where = [
      ...(sessionIds.length > 0 ? [`session_id in (${sessionIds.map(() => '?').join(', ')})`] : []),
      ...byKey.map(() => 'starts_with(key, ?)'),
    ];
    if (where.length > 0) {
      const result = await connection.execute<{ affectedRows: number }>(
        `update sent_email set subject = '', recipients = '', error = null where ${where.join(' or ')}`,
        [...sessionIds, ...byKey],
        'run',
      );
      emails = result.affectedRows;
    }
    const configIds = new Set([...records.map((r) => r.config.id), ...('configId' in target ? [target.configId] : [])]);
    return {
      records: records.map((r) => ({
        id: r.id,
        configId: r.config.id,
        record: r.record,
        eventName: r.eventName,
        instance: r.repeatInstance || null,
      })),
      sessions: sessionIds,
      emails,
      workflowIds: [
        ...new Set([
          ...intakeIds,
          ...sessionIds.flatMap((id) => [scanImportWorkflowId(id), scanDownloadWorkflowId(id)]),
        ]),
      ],
      scheduleIds: [...configIds].map(redcapReconcileScheduleId),
    };
  });
}

async function linkedRecordIds(em: EntityManager, sessionId: string): Promise<number[]> {
  const link = await em.findOne(SessionRedcap, { session: sessionId.toUpperCase() });
  return link?.record ? [link.record.id] : [];
}
