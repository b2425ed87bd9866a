/**
 * The monitors' look at XNAT (docs/xnat.md "A session's XNAT state"), bounded: XNAT down or slow never holds a monitor
 * for more than XNAT_CHECK_WITHIN_MS. One XnatClient per worker (ActivityDeps.xnat): its login is reused.
 */
import { XnatClient } from '../src/xnat/client';
import { checkSessionXnat, type XnatState } from '../src/xnat/state';
import type { ActivityDeps } from './deps';

/** The longest a monitor's check waits for XNAT; past it, the session's XNAT state is `unreachable`. */
export const XNAT_CHECK_WITHIN_MS = 5_000;

/** The worker's XNAT client (ActivityDeps.xnat), or one per dependencies for callers that hand in none. */
const clients = new WeakMap<ActivityDeps, XnatClient>();
export function xnatClientOf(deps: ActivityDeps): XnatClient {
  if (deps.xnat) return deps.xnat;
  let client = clients.get(deps);
  if (!client) clients.set(deps, (client = new XnatClient({ timeoutMs: deps.config.xnat.timeoutMs })));
  return client;
}

/**
 * A monitor's look at XNAT: where the session's study site has an XNAT project, asks it (for XNAT_CHECK_WITHIN_MS at
 * most) and records the answer on the session. Null for a study site without one. Never throws for XNAT.
 */
export function checkXnatOfSession(deps: ActivityDeps, sessionId: string): Promise<XnatState | null> {
  return checkSessionXnat(deps.orm.em.fork(), xnatClientOf(deps), sessionId, new Date(), {
    withinMs: XNAT_CHECK_WITHIN_MS,
  });
}
