/** The activity of LabDigestWorkflow: a study's daily digest, composed and sent in one step (its text never enters a history). */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Study } from '../src/db/entities';
import { dayIn, digestRecipients, gatherDigest } from '../src/lab-data/digest';
import { refreshStudyStates } from '../src/lab-data/state';
import { digestLines, labDigestEmail } from '../src/mail/digest';
import { deleteDigestSchedule } from '../src/temporal/digest-schedules';
import { labDigestScheduleId, type LabDigestResult } from '../surface';
import type { ActivityDeps } from './deps';
import { whileHeartbeating } from './heartbeat';
import { createMailActivities } from './mail';

export function createDigestActivities(deps: ActivityDeps) {
  const { emailAdmins } = createMailActivities(deps);
  const log = deps.logger.child({ component: 'digest' });

  async function send(input: { studyId: string; at: string }): Promise<LabDigestResult> {
    const em = deps.orm.em.fork() as EntityManager;
    const at = new Date(input.at);
    const day = dayIn(at, deps.config.digest.timeZone);
    const study = await em.findOne(Study, input.studyId);
    if (!study) {
      await deleteDigestSchedule(deps.temporal, input.studyId).catch((err) =>
        log.warn({ err, studyId: input.studyId }, 'could not delete the digest schedule of a study that is gone'),
      );
      return { sent: false, day, lines: 0, reason: 'study gone' };
    }
    // The daily repair: a state a path failed to refresh is right again before it is reported.
    await refreshStudyStates(em, study.id);
    const facts = await gatherDigest(em, study.id, at, {
      timeZone: deps.config.digest.timeZone,
      publicUrl: deps.config.lab.publicUrl,
    });
    const lines = digestLines(facts);
    if (lines === 0) return { sent: false, day, lines, reason: 'nothing outstanding' };
    const recipients = await digestRecipients(em, study.id);
    if (recipients.length === 0) {
      log.warn({ studyId: study.id, day }, 'no digest sent: no admin or digest user with an email sees this study');
      return { sent: false, day, lines, reason: 'no recipients' };
    }
    // One key per study and day: a retried activity, a second run or a crash never sends a second one that day.
    const sent = await emailAdmins({
      key: `${labDigestScheduleId(study.id)}:${day}`,
      kind: 'digest',
      recipients,
      ...labDigestEmail(facts),
    });
    return { sent: !sent.held, day, lines };
  }

  return {
    /** The digest of a study for the day of `at` (in TZ): sent once, only when something needs a person. */
    sendLabDigest(input: { studyId: string; at: string }): Promise<LabDigestResult> {
      return whileHeartbeating(() => send(input));
    },
  };
}
