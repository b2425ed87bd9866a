/**
 * Text we store, or hand to Temporal, must come back exactly as sent. PostgreSQL text cannot hold NUL, and a lone
 * UTF-16 surrogate has no UTF-8 form (PostgreSQL would get U+FFFD instead; Temporal refuses it in an id). Such
 * input is refused with a 400 naming the field, never stored altered. Pure code.
 */
import { z } from 'zod';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why this text cannot be stored exactly as sent, or undefined when it can. */
export function unstorableReason(value: string): string | undefined {
  if (value.includes('\u0000')) return 'must not contain a NUL character';
  if (LONE_SURROGATE.test(value)) return 'must be valid Unicode (it has a lone surrogate)';
  return undefined;
}

/** zod: `.superRefine(refineStorable)` on a string field that is stored or sent to Temporal. */
export function refineStorable(value: string, ctx: z.RefinementCtx): void {
  const reason = unstorableReason(value);
  if (reason) ctx.addIssue({ code: z.ZodIssueCode.custom, message: reason });
}
