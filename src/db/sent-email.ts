/**
 * The ledger that makes admin emails idempotent: one row per idempotency key. A sender claims the key
 * (status `sending`, for a lease: `leaseUntil`) before handing the message to the transport and marks it `sent`
 * after, so a retried activity never sends a second email for the same key. A send known to have failed gives
 * the claim back (`failed`); a claim whose lease ran out (its sender died or hung) may be taken again.
 */
import { EntitySchema, OptionalProps } from '@mikro-orm/core';

export type SentEmailStatus = 'sending' | 'sent' | 'failed';

export class SentEmail {
  [OptionalProps]?: 'status' | 'attempts' | 'createdAt';
  /** e.g. `scan-import:SPN01_CMH_0001_01_01:<runId>:no-scans`; a key over 255 characters is shortened with its hash (activities/mail.ts ledgerKey). */
  key!: string;
  kind!: string;
  sessionId?: string | null;
  subject!: string;
  /** Comma-separated addresses. */
  recipients!: string;
  status: SentEmailStatus = 'sending';
  /** Times a sender claimed the key. */
  attempts: number = 1;
  messageId?: string | null;
  /** Why the last send failed. */
  error?: string | null;
  createdAt: Date = new Date();
  sentAt?: Date | null;
  /** While `sending`: until when the claim is its sender's; null on rows claimed before leases existed. */
  leaseUntil?: Date | null;
  /** While `sending`: the id of the claim (each attempt's own), which the writes after the send match. */
  claimId?: string | null;
}

export const SentEmailSchema = new EntitySchema<SentEmail>({
  class: SentEmail,
  tableName: 'sent_email',
  properties: {
    key: { type: 'string', primary: true, length: 255 },
    kind: { type: 'string', length: 64 },
    sessionId: { type: 'string', length: 80, nullable: true, index: true },
    subject: { type: 'text' },
    recipients: { type: 'text' },
    status: { type: 'string', length: 16, default: 'sending' },
    attempts: { type: 'number', default: 1 },
    messageId: { type: 'string', nullable: true },
    error: { type: 'text', nullable: true },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
    sentAt: { type: 'datetime', nullable: true },
    leaseUntil: { type: 'datetime', nullable: true },
    claimId: { type: 'uuid', nullable: true },
  },
});
