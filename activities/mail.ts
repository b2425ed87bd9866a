/**
 * Email to the lab's admins, idempotent per key: a retried activity, or a second call with the same key,
 * never sends a second email. Used by the monitors and by the intake workflow when it fails.
 */
import type { ActivityDeps } from './deps';

export interface AdminEmail {
  /** Idempotency key, e.g. `${workflowId}:${runId}:no-scans`: one email per key, ever. */
  key: string;
  subject: string;
  text: string;
  /** Explicit recipients; default: every user with admin: true and an email. */
  recipients?: string[];
  /** For the log line and the failure when nobody can be emailed. */
  sessionId?: string;
}

export function createMailActivities(_deps: ActivityDeps) {
  return {
    async emailAdmins(_email: AdminEmail): Promise<{ sent: boolean; recipients: string[] }> {
      throw new Error('emailAdmins: not implemented yet (issue 5)');
    },
  };
}
