/**
 * Email to the lab's admins, idempotent per key: a retried activity, or a second call with the same key,
 * never sends a second email. Used by the monitors and by the intake workflow when it fails.
 *
 * The key is claimed in the sent_email ledger (status `sending`) before the message goes to the transport
 * and marked `sent` after. A send that throws releases the claim (`failed`) so the retry sends; a claim
 * left `sending` (the worker died mid-send, or the database failed after the send) is never sent again:
 * at most one email per key.
 */
import { raw, UniqueConstraintViolationException } from '@mikro-orm/core';
import { ApplicationFailure } from '@temporalio/common';
import { User } from '../src/db/entities';
import { SentEmail } from '../src/db/sent-email';
import { intakeFailedEmail, type IntakeFailure, type MailContent } from '../src/mail/templates';
import { emailsSentTotal } from '../src/metrics';
import { PermanentError } from '../surface';
import type { Logger } from '../src/logger';
import type { ActivityDeps } from './deps';

/** An email to the admins: its text as composed (subject and text), or what a template composes it from. */
export type AdminEmail = ComposedEmail | (AdminEmailEnvelope & { intakeFailure: IntakeFailure });

/** An email whose subject and text are written. */
export type ComposedEmail = AdminEmailEnvelope & MailContent;

interface AdminEmailEnvelope {
  /** Idempotency key, e.g. `${workflowId}:${runId}:no-scans`: one email per key, ever. */
  key: string;
  /** Explicit recipients; default: every user with admin: true and an email. */
  recipients?: string[];
  /** For the log line and the failure when nobody can be emailed. */
  sessionId?: string;
  /** What it is about, for the emails_sent_total metric (default: the key's last `:` part). */
  kind?: string;
}

function unique(addresses: string[]): string[] {
  const seen = new Set<string>();
  return addresses
    .map((address) => address.trim())
    .filter((address) => address !== '' && !seen.has(address.toLowerCase()) && seen.add(address.toLowerCase()));
}

export function createMailActivities(deps: ActivityDeps) {
  async function recipientsFor(email: ComposedEmail): Promise<string[]> {
    if (email.recipients && unique(email.recipients).length > 0) return unique(email.recipients);
    const admins = await deps.orm.em.fork().find(User, { admin: true, email: { $ne: null } }, { orderBy: { name: 'asc' } });
    const addresses = unique(admins.map((admin) => admin.email ?? ''));
    if (addresses.length === 0) {
      const about = email.sessionId ? `session ${email.sessionId}` : `"${email.subject}"`;
      throw ApplicationFailure.create({
        type: PermanentError.NoRecipients,
        nonRetryable: true,
        message:
          `Cannot email the admins about ${about}: no user has admin: true and an email address. ` +
          'Add one to the lab config (users:) and apply it.',
        details: [{ key: email.key, sessionId: email.sessionId ?? null, subject: email.subject }],
      });
    }
    return addresses;
  }

  /**
   * Marks a send that is known to have failed, so that the retry sends it. Tried a few times: a claim left at
   * 'sending' is never sent again (that is what a worker dying mid-send leaves, when the mail may have gone).
   */
  async function releaseClaim(em: ReturnType<typeof deps.orm.em.fork>, key: string, reason: string, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await em.nativeUpdate(SentEmail, { key }, { status: 'failed', error: reason.slice(0, 2_000) });
        return;
      } catch (err) {
        if (attempt >= 5) {
          log.error({ err }, `admin email ${key} failed and its claim could not be released: it will not be retried; send it by hand`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1_000 * attempt));
      }
    }
  }

  return {
    async emailAdmins(request: AdminEmail): Promise<{ sent: boolean; recipients: string[] }> {
      const email = 'intakeFailure' in request ? { ...request, ...intakeFailedEmail(request.intakeFailure) } : request;
      const kind = email.kind ?? email.key.split(':').pop() ?? 'admin';
      const log = deps.logger.child({ emailKey: email.key, kind, sessionId: email.sessionId });
      const em = deps.orm.em.fork();
      const done = await em.findOne(SentEmail, { key: email.key, status: 'sent' });
      if (done) {
        log.info('admin email for this key already sent; not sending again');
        return { sent: false, recipients: done.recipients.split(', ') };
      }
      const recipients = await recipientsFor(email);

      // Claim the key: a new row, or a row whose last send failed.
      let claimed = false;
      try {
        await em.insert(SentEmail, {
          key: email.key,
          kind,
          sessionId: email.sessionId ?? null,
          subject: email.subject,
          recipients: recipients.join(', '),
          createdAt: new Date(),
        });
        claimed = true;
      } catch (err) {
        if (!(err instanceof UniqueConstraintViolationException)) throw err;
        const reclaimed = await em.nativeUpdate(
          SentEmail,
          { key: email.key, status: 'failed' },
          { status: 'sending', attempts: raw('attempts + 1'), recipients: recipients.join(', '), error: null },
        );
        claimed = reclaimed === 1;
      }
      if (!claimed) {
        const existing = await em.findOneOrFail(SentEmail, { key: email.key });
        log.info({ status: existing.status }, 'admin email for this key already sent (or being sent); not sending again');
        return { sent: false, recipients: existing.recipients.split(', ') };
      }

      let messageId: string;
      try {
        ({ messageId } = await deps.mailer.send({ to: recipients, subject: email.subject, text: email.text }));
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        await releaseClaim(em, email.key, reason, log);
        log.warn({ err, via: deps.mailer.description }, 'sending admin email failed; the activity retries');
        throw err;
      }
      emailsSentTotal.inc({ kind });
      await em.nativeUpdate(SentEmail, { key: email.key }, { status: 'sent', messageId, sentAt: new Date() });
      log.info({ recipients, messageId, via: deps.mailer.description }, 'admin email sent');
      return { sent: true, recipients };
    },
  };
}
