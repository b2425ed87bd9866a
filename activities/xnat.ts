/**
 * Activities of XNAT (docs/xnat.md): ScanDownloadWorkflow's wait for XNAT to archive a session, XnatSyncWorkflow's
 * sync of each project, and RedcapRecordMonitor's check and email. The monitors' look at XNAT: ./xnat-check.ts.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { XnatConfig } from '../src/db/xnat';
import { noRedcapRecordEmail } from '../src/mail/templates';
import { checkSessionScans } from '../src/sessions/scan-check';
import { sessionFacts, viewSession } from '../src/sessions/view';
import { startRedcapRecordMonitor } from '../src/temporal/monitors';
import { deleteXnatSyncSchedule } from '../src/temporal/schedules';
import { XnatError } from '../src/xnat/client';
import {
  dueRedcapRecordMonitors,
  foundInXnatAt,
  markRedcapRecordMonitorsStarted,
  redcapRecordCheckOf,
} from '../src/xnat/redcap-record';
import type { XnatState } from '../src/xnat/state';
import { syncXnatProject, xnatProjectIdsOf } from '../src/xnat/sync';
import { WAITING_FOR_XNAT, type RedcapRecordCheck, type XnatArchiveCheck, type XnatProjectSynced } from '../surface';
import type { ActivityDeps } from './deps';
import { whileHeartbeating } from './heartbeat';
import { createMailActivities, type EmailSent } from './mail';
import { orSessionGone } from './monitors';
import { checkXnatOfSession, xnatClientOf } from './xnat-check';

/** RedcapRecordMonitors started at once by a sync (Temporal calls in flight). */
const START_CONCURRENCY = 32;

/** Why the download waits, in a line (the pending attempt's last failure in the Web UI). */
function waitingFor(sessionId: string, state: XnatState): string {
  const since = state.since ? ` since ${state.since}` : '';
  switch (state.state) {
    case 'prearchive':
      return `XNAT has ${sessionId} in its prearchive${since}, not archived`;
    case 'absent':
      return `XNAT has no session labelled ${sessionId} yet (neither archived nor in its prearchive)`;
    default:
      return `XNAT could not be asked about ${sessionId}: ${state.reason ?? 'no reason given'}`;
  }
}

/** XNAT's errors as Temporal failures: retried when XNAT may answer later, else the project's sync fails with the reason. */
function asFailure(err: unknown): unknown {
  if (!(err instanceof XnatError)) return err;
  return ApplicationFailure.create({ message: err.message, type: err.type, nonRetryable: !err.retryable });
}

export function createXnatActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ component: 'xnat' });
  const { emailAdmins } = createMailActivities(deps);

  return {
    /**
     * ScanDownloadWorkflow's wait: ready when XNAT has archived the session, when its study site has no XNAT project,
     * or when its scans are here already; otherwise fails (WaitingForXnat) so that Temporal checks again on the
     * download backoff until the end time. A session whose monitoring was cancelled says so.
     */
    async waitForXnatArchive(input: { sessionId: string }): Promise<XnatArchiveCheck> {
      const check = await orSessionGone(input.sessionId, checkSessionScans(deps.orm.em.fork(), input.sessionId));
      if (check.cancelled) return { cancelled: check.cancelled };
      if (check.scans > 0) return { ready: 'scans-present' };
      const state = await checkXnatOfSession(deps, input.sessionId);
      if (!state) return { ready: 'no-xnat-project' };
      if (state.state === 'archived') return { ready: 'archived' };
      throw ApplicationFailure.create({
        type: WAITING_FOR_XNAT,
        message: `${waitingFor(input.sessionId, state)}; the download job is submitted once XNAT has archived it (checking again after the backoff)`,
        details: [{ state: state.state }],
      });
    },

    /** The projects of an XNAT config; a config that is gone fails the run (and its schedule is deleted). */
    async xnatSyncProjects(input: { xnatConfigId: number }): Promise<number[]> {
      const em = deps.orm.em.fork();
      if (!(await em.findOne(XnatConfig, input.xnatConfigId, { fields: ['id'] }))) {
        await deleteXnatSyncSchedule(deps.temporal, input.xnatConfigId).catch((err) =>
          log.warn(
            { xnatConfigId: input.xnatConfigId, err },
            'could not delete the schedule of an XNAT config that is gone',
          ),
        );
        throw ApplicationFailure.nonRetryable(
          `XNAT config ${input.xnatConfigId} no longer exists; its sync schedule is deleted`,
          'XnatConfigMissing',
        );
      }
      return xnatProjectIdsOf(em, input.xnatConfigId);
    },

    /**
     * One project's sync (src/xnat/sync.ts), then the RedcapRecordMonitor of each session it found without a REDCap
     * record (those a retried sync found before too: they are due until started). Counts only.
     */
    async xnatSyncProject(input: { xnatConfigId: number; projectId: number }): Promise<XnatProjectSynced> {
      return whileHeartbeating(async () => {
        const em = deps.orm.em.fork();
        const sync = await syncXnatProject(em, xnatClientOf(deps), input.projectId, {
          lookbackMs: deps.config.xnat.syncLookbackMs,
          logger: log,
        }).catch((err: unknown) => {
          throw asFailure(err);
        });
        const due = await dueRedcapRecordMonitors(em, input.projectId);
        for (let i = 0; i < due.length; i += START_CONCURRENCY) {
          const batch = due.slice(i, i + START_CONCURRENCY);
          await Promise.all(batch.map((session) => startRedcapRecordMonitor(deps.temporal, deps.config, session)));
          await markRedcapRecordMonitorsStarted(
            em,
            batch.map((session) => session.sessionId),
            new Date(),
          );
        }
        log.info(
          { xnatProject: sync.project, listed: sync.listed, changed: sync.changed, filed: sync.filed },
          `XNAT project synced: ${sync.newSessions.length} new sessions, ${due.length} REDCap record monitors started`,
        );
        return {
          project: sync.project,
          listed: sync.listed,
          changed: sync.changed,
          filed: sync.filed,
          newSessions: sync.newSessions.length,
          labelProblems: sync.labelProblems,
          redcapRecordMonitors: due.length,
        };
      });
    },

    /** RedcapRecordMonitor's check (one SQL statement). A session gone is permanent. */
    async checkRedcapRecord(sessionId: string): Promise<RedcapRecordCheck> {
      return orSessionGone(sessionId, redcapRecordCheckOf(deps.orm.em.fork(), sessionId));
    },

    /** RedcapRecordMonitor's email, composed here from the session as the database has it (no email text in history). */
    async emailNoRedcapRecord(request: {
      key: string;
      sessionId: string;
      waitedMs: number;
      recipients?: string[];
    }): Promise<EmailSent> {
      const em = deps.orm.em.fork();
      const view = await orSessionGone(request.sessionId, viewSession(em, request.sessionId));
      const foundAt = await foundInXnatAt(em, view.sessionId);
      const content = noRedcapRecordEmail(sessionFacts(view), {
        waitedMs: request.waitedMs,
        foundAt: foundAt?.toISOString() ?? null,
      });
      return emailAdmins({
        key: request.key,
        kind: 'no-redcap-record',
        sessionId: view.sessionId,
        recipients: request.recipients,
        ...content,
      });
    },
  };
}
