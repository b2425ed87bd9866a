/**
 * The token a download or post-download job gets instead of the admin API_TOKEN (docs/jobs.md): it registers scans
 * of its own session (POST /sessions/<session>/scans) and nothing else, until it expires (JOB_TOKEN_LIFETIME).
 *
 * `scan1.<session, base64url>.<expiry, Unix seconds>.<HMAC-SHA256 of both, base64url>`, keyed with a key derived
 * from API_TOKEN: the worker mints it, the API checks it, and nothing is stored. Changing API_TOKEN voids them all.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'scan1';

const keyOf = (apiToken: string) => createHmac('sha256', apiToken).update('redcap-scan-monitor scan token').digest();
const signature = (apiToken: string, sessionId: string, expiry: number) =>
  createHmac('sha256', keyOf(apiToken)).update(`${sessionId}\n${expiry}`).digest('base64url');

export function createScanToken(apiToken: string, sessionId: string, expiresAt: Date): string {
  const expiry = Math.floor(expiresAt.getTime() / 1000);
  return [PREFIX, Buffer.from(sessionId).toString('base64url'), expiry, signature(apiToken, sessionId, expiry)].join(
    '.',
  );
}

/** Whether a bearer value is shaped like a scan token (then it is checked as one, never as API_TOKEN). */
export const isScanToken = (token: string) => token.startsWith(`${PREFIX}.`);

export type ScanTokenCheck =
  | { valid: true }
  | { valid: false; reason: 'forged' }
  | { valid: false; reason: 'expired'; expiredAt: Date }
  | { valid: false; reason: 'other-session'; sessionId: string };

/** Checks a token for registering scans of `sessionId` (the canonical id). */
export function checkScanToken(apiToken: string, token: string, sessionId: string, now = new Date()): ScanTokenCheck {
  const [prefix, session64, expiryText, given, ...rest] = token.split('.');
  const expiry = Number(expiryText);
  if (prefix !== PREFIX || rest.length > 0 || !session64 || !given || !Number.isSafeInteger(expiry))
    return { valid: false, reason: 'forged' };
  const tokenSession = Buffer.from(session64, 'base64url').toString();
  const expected = Buffer.from(signature(apiToken, tokenSession, expiry));
  if (Buffer.byteLength(given) !== expected.length || !timingSafeEqual(Buffer.from(given), expected))
    return { valid: false, reason: 'forged' };
  if (expiry * 1000 <= now.getTime()) return { valid: false, reason: 'expired', expiredAt: new Date(expiry * 1000) };
  if (tokenSession !== sessionId) return { valid: false, reason: 'other-session', sessionId: tokenSession };
  return { valid: true };
}
