/**
 * Email to the lab's admins, once per key: a retried activity, or a second call with the same key, never
 * sends a second email. Used by the monitors and by the intake workflow when it fails.
 *
 * The key is claimed in the sent_email ledger before the message goes to the transport, and marked `sent`
 * after. A claim is a lease (EMAIL_LEASE): a sender that dies or hangs between the claim and the ledger write
 * leaves a claim that another attempt takes once the lease has run out, and sends (at least once beats never:
 * the one duplicate possible is a sender dying after the SMTP server took the message and before the ledger
 * write). A send that fails gives the claim back at once. Retrying is Temporal's: an attempt that finds the
 * key claimed by a live lease fails (EmailBeingSent) and the activity's retry policy tries again.
 *
 * Each claim has its own id: a sender whose send failed gives back only its own claim, never the live claim of an
 * attempt that took the key over after its lease ran out (which would let a third attempt send another copy).
 *
 * `emailAdmins` returns only once the email for its key has been sent, by this attempt or an earlier one:
 * a monitor that says `email-sent` has sent it. Failed-intake and missed-trigger emails are limited to one an hour per
 * REDCap config (src/mail/throttle.ts): one over the limit is held (`held: true`), and the study's digest tells it.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApplicationFailure } from '@temporalio/common';
import { User } from '../src/db/entities';
import { SentEmail } from '../src/db/sent-email';
import { intakeFailed } from '../src/lab-data/problems';
import { sessionsChanged } from '../src/lab-data/state';
import { intakeFailedEmail, type IntakeFailure, type MailContent } from '../src/mail/templates';
import { heldByThrottle, throttleScope } from '../src/mail/throttle';
import { emailsSentTotal } from '../src/metrics';
import { PermanentError } from '../surface';
import type { ActivityDeps } from './deps';
import { whileHeartbeating } from './heartbeat';

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
  /** The REDCap config it is about: its failed-intake and missed-trigger emails go out at most once an hour. */
  redcapConfigId?: number;
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
    const admins = await deps.orm.em
      .fork()
      .find(User, { admin: true, email: { $ne: null } }, { orderBy: { name: 'asc' } });
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

  return {
    async emailAdmins(request: AdminEmail): Promise<EmailSent> {
      const failure = 'intakeFailure' in request ? request.intakeFailure : undefined;
      const email = failure
        ? { ...request, ...intakeFailedEmail(failure), redcapConfigId: failure.configId }
        : (request as ComposedEmail);
      const kind = email.kind ?? email.key.split(':').pop() ?? 'admin';
      const log = deps.logger.child({ emailKey: email.key, kind, sessionId: email.sessionId });
      const em = deps.orm.em.fork();
      if (failure) await intakeFailed(em, failure);
      const key = ledgerKey(email.key);
      const done = await em.findOne(SentEmail, { key, status: 'sent' });
      if (done) {
        log.info('admin email for this key already sent; not sending again');
        await sessionsChanged(em, [email.sessionId], log);
        return { sent: true, recipients: done.recipients.split(', '), alreadySent: true };
      }
      if (await heldByThrottle(em, { ...email, kind }, throttleScope(kind, email.redcapConfigId))) {
        log.info('admin email held by the hourly limit of its REDCap config; the digest tells it');
        return { sent: true, recipients: [], held: true };
      }
      const recipients = await recipientsFor(email);

      const claim = await claimKey(em, { ...email, key, kind, recipients }, deps.config.emailLeaseMs);
      if (claim.status === 'sent') {
        log.info('admin email for this key already sent; not sending again');
        return { sent: true, recipients: claim.recipients.split(', '), alreadySent: true };
      }
      if (claim.status !== 'claimed') {
        throw ApplicationFailure.create({
          type: 'EmailBeingSent',
          message: `Admin email ${email.key} is being sent by another attempt (its claim holds until ${claim.leaseUntil?.toISOString() ?? 'now'}); trying again later`,
        });
      }

      let messageId: string;
      try {
        ({ messageId } = await whileHeartbeating(() =>
          deps.mailer.send({ to: recipients, subject: email.subject, text: email.text }),
        ));
      } catch (err) {
        // Known not sent: give the claim back so that the retry need not wait out the lease (if this write fails too, the lease runs out).
        const reason = (err instanceof Error ? err.message : String(err)).slice(0, 2_000);
        await em
          .nativeUpdate(
            SentEmail,
            { key, status: 'sending', claimId: claim.claimId },
            { status: 'failed', error: reason, leaseUntil: null, claimId: null },
          )
          .catch((releaseError: unknown) =>
            log.warn({ err: releaseError }, 'could not give back the claim; it is taken again when its lease runs out'),
          );
        log.warn({ err, via: deps.mailer.description }, 'sending admin email failed; the activity retries');
        throw err;
      }
      emailsSentTotal.inc({ kind });
      const sent = { status: 'sent' as const, messageId, sentAt: new Date(), leaseUntil: null };
      if ((await em.nativeUpdate(SentEmail, { key, claimId: claim.claimId }, sent)) === 0) {
        // The send outlasted the lease and another attempt holds the key now: the email is out all the same, and no
        // later attempt may send it again.
        log.warn('the send took longer than EMAIL_LEASE and another attempt took the claim; recorded as sent');
        await em.nativeUpdate(SentEmail, { key, status: { $ne: 'sent' } }, sent);
      }
      log.info({ recipients, messageId, via: deps.mailer.description }, 'admin email sent');
      await sessionsChanged(em, [email.sessionId], log);
      return { sent: true, recipients };
    },
  };
}

/**
 * What emailAdmins answers once the email of its key is settled: sent (`alreadySent`: by an earlier attempt or call),
 * or, with `held`, kept back by the hourly limit of its REDCap config and sent to nobody (the digest tells it).
 * `sent` stays `true` in both: it is the shape every release's workflows were built against, and none reads it.
 */
export interface EmailSent {
  sent: true;
  recipients: string[];
  alreadySent?: true;
  held?: true;
}

type Claim =
  | { status: 'claimed'; claimId: string }
  | { status: 'sent'; recipients: string }
  | { status: 'sending' | 'failed'; leaseUntil: Date | null };

/**
 * Claims the key for one send, in one statement: a new row, or a row whose last send failed or whose lease has
 * run out (the database's clock decides, not the workers'). Otherwise says who has it.
 */
async function claimKey(
  em: EntityManager,
  email: { key: string; kind: string; sessionId?: string; subject: string; recipients: string[] },
  leaseMs: number,
): Promise<Claim> {
  const claimId = randomUUID();
  const claimed = await em.getConnection().execute<unknown[]>(
    `insert into "sent_email" ("key", "kind", "session_id", "subject", "recipients", "status", "attempts", "created_at", "lease_until", "claim_id")
     values (?, ?, ?, ?, ?, 'sending', 1, now(), now() + make_interval(secs => ?), ?)
     on conflict ("key") do update
       set "status" = 'sending', "attempts" = "sent_email"."attempts" + 1, "recipients" = excluded."recipients",
           "error" = null, "lease_until" = excluded."lease_until", "claim_id" = excluded."claim_id"
       where "sent_email"."status" = 'failed'
          or ("sent_email"."status" = 'sending' and ("sent_email"."lease_until" is null or "sent_email"."lease_until" < now()))
     returning "key"`,
    [
      email.key,
      email.kind,
      email.sessionId ?? null,
      email.subject,
      email.recipients.join(', '),
      leaseMs / 1000,
      claimId,
    ],
  );
  if (claimed.length === 1) return { status: 'claimed', claimId };
  const row = await em.fork().findOneOrFail(SentEmail, { key: email.key });
  return row.status === 'sent'
    ? { status: 'sent', recipients: row.recipients }
    : { status: row.status, leaseUntil: row.leaseUntil ?? null };
}

/** sent_email.key's length, in characters. */
const KEY_LENGTH = 255;

/**
 * The ledger's key for an email's key: the key itself when it fits sent_email.key, else its start and a SHA-256 of
 * all of it (a record name alone may be 200 characters), so that every key has its own row.
 */
export function ledgerKey(key: string): string {
  const characters = [...key]; // by code point, as PostgreSQL counts them (a cut never splits a surrogate pair)
  if (characters.length <= KEY_LENGTH) return key;
  const digest = `#sha256:${createHash('sha256').update(key).digest('hex')}`;
  return characters.slice(0, KEY_LENGTH - digest.length).join('') + digest;
}
