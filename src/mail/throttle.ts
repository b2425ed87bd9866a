/**
 * The hourly limit on the emails of one REDCap config (docs/email.md "At most one an hour"): of its failed-intake
 * emails one goes out per hour, and of its missed-trigger emails one; the others are held, counted, and told in the
 * study's next digest. A trigger storm (a mistyped session field saved fifty times, a forged trigger repeated) costs
 * the admins one email.
 *
 * The window is a row per scope claimed in one statement, so two workers never both send; a retry of the email that
 * owns the window passes again, and a held email stays held (its key is remembered).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { HeldEmail } from '../db/lab-data';
import { emailsHeldTotal } from '../metrics';

/** The kinds the limit applies to, each email of them naming its REDCap config. */
export const THROTTLED_KINDS: readonly string[] = ['intake-failed', 'missed-triggers'];

export const THROTTLE_WINDOW_SECONDS = 60 * 60;

/** The scope of a REDCap config's limited emails of one kind: `redcap-config:<id>:<kind>`. */
export const redcapConfigScope = (configId: number, kind: string) => `redcap-config:${configId}:${kind}`;

/** The limit's scope of an email, or undefined when it is not limited. */
export function throttleScope(kind: string, redcapConfigId: number | undefined): string | undefined {
  return redcapConfigId !== undefined && THROTTLED_KINDS.includes(kind)
    ? redcapConfigScope(redcapConfigId, kind)
    : undefined;
}

/**
 * True when the email is held: it was held before, or another email of its scope owns the current hour (it is
 * recorded as held now). False when it may be sent (it owns the hour).
 */
export async function heldByThrottle(
  em: EntityManager,
  email: { key: string; kind: string; subject: string },
  scope: string | undefined,
): Promise<boolean> {
  if (!scope) return false;
  if (await em.fork().findOne(HeldEmail, { key: email.key })) return true;
  const owns = await em.execute<unknown[]>(
    `insert into email_throttle (scope, key, until) values (?, ?, now() + make_interval(secs => ?))
     on conflict (scope) do update set key = excluded.key,
       until = case when email_throttle.until > now() then email_throttle.until else excluded.until end
       where email_throttle.until <= now() or email_throttle.key = excluded.key
     returning key`,
    [scope, email.key, THROTTLE_WINDOW_SECONDS],
  );
  if (owns.length > 0) return false;
  await em.execute(
    `insert into held_email (key, kind, scope, subject, held_at) values (?, ?, ?, ?, now()) on conflict do nothing`,
    [email.key, email.kind, scope, email.subject],
  );
  emailsHeldTotal.inc({ kind: email.kind });
  return true;
}
