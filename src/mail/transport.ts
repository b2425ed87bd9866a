/**
 * Where mail goes: the SMTP server of SMTP_URL, or, when it is unset, one `.eml` file per message under
 * DATA_DIR/outbox (open them with any mail client). The one place that builds a nodemailer transport.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../config';

export interface OutgoingMail {
  to: string[];
  subject: string;
  text: string;
}

export interface Mailer {
  /** Hands the message over; resolves with the Message-ID once the transport accepted it. */
  send(mail: OutgoingMail): Promise<{ messageId: string; file?: string }>;
  /** Where the mail goes, for logs (never with credentials). */
  readonly description: string;
  close(): void;
}

export function createMailer(config: Pick<Config, 'smtpUrl' | 'mailFrom' | 'dataDir'>): Mailer {
  return config.smtpUrl
    ? smtpMailer(config.smtpUrl, config.mailFrom)
    : outboxMailer(path.join(config.dataDir, 'outbox'), config.mailFrom);
}

function smtpMailer(smtpUrl: string, from: string): Mailer {
  // Bounded waits: an SMTP server that does not answer fails the attempt; the activity retries it.
  const transport = nodemailer.createTransport(smtpUrl, {
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  } as nodemailer.TransportOptions);
  const url = new URL(smtpUrl);
  return {
    description: `${url.protocol}//${url.host}`,
    async send(mail) {
      const info = await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
      return { messageId: info.messageId };
    },
    close: () => transport.close(),
  };
}

function outboxMailer(dir: string, from: string): Mailer {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    description: `outbox ${dir}`,
    async send(mail) {
      const info = await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
      await fs.mkdir(dir, { recursive: true });
      const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}.eml`);
      // Written under a temporary name, then renamed: a reader never sees half a message.
      await fs.writeFile(`${file}.tmp`, info.message as Buffer);
      await fs.rename(`${file}.tmp`, file);
      return { messageId: info.messageId, file };
    },
    close: () => transport.close(),
  };
}
