/** A real SMTP server (the smtp-server package) on 127.0.0.1 that keeps every message it accepts. */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { registerParticipantText } from './participant-texts';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  raw: string;
}

export interface TestSmtpServer {
  url: string;
  messages: ReceivedMail[];
  /** Reject the next `count` messages with a 451 (a temporary failure, as a busy server does). */
  rejectNext(count: number): void;
  /**
   * Holds the reply to every message from now on (no 250 until `release`), as a stalled server does. A message
   * for which `takenBeforeReply` is true counts as received at once (a server that delivers what it got even if
   * the client is gone before the reply); any other counts only if its client is still there at the release.
   */
  hold(takenBeforeReply: (mail: ReceivedMail) => boolean): void;
  /** Replies to the held messages whose clients are still connected, and stops holding. */
  release(): void;
  /** Messages whose reply is held now. */
  held(): number;
  close(): Promise<void>;
}

function parse(raw: string, from: string, to: string[]): ReceivedMail {
  const split = raw.indexOf('\r\n\r\n') >= 0 ? raw.indexOf('\r\n\r\n') : raw.indexOf('\n\n');
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, ' ');
  const subject = /^subject:\s*(.*)$/im.exec(head)?.[1]?.trim() ?? '';
  let body = raw.slice(split).trim();
  if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
    body = body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  return { from, to, subject, text: body.replace(/\r\n/g, '\n'), raw };
}

/** `port` 0 (default) picks a free one; a fixed port lets a test bring a server back where it was. */
export async function startSmtpServer(options: { port?: number } = {}): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = [];
  let rejections = 0;
  let holding: ((mail: ReceivedMail) => boolean) | undefined;
  const heldReplies = new Map<string, () => void>();
  const closed = new Set<string>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onClose(session) {
      closed.add(session.id);
      heldReplies.delete(session.id);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (rejections > 0) {
          rejections--;
          const err = new Error('Try again later') as Error & { responseCode: number };
          err.responseCode = 451;
          callback(err);
          return;
        }
        const envelope = session.envelope;
        const from = envelope.mailFrom ? envelope.mailFrom.address : '';
        const mail = parse(
          Buffer.concat(chunks).toString('utf8'),
          from,
          envelope.rcptTo.map((r) => r.address),
        );
        // What reached the admins must never be in a workflow history (test/support/history-scan.ts).
        registerParticipantText('email-subject', mail.subject);
        registerParticipantText('email-body', mail.text);
        if (!holding) {
          messages.push(mail);
          callback();
          return;
        }
        const taken = holding(mail);
        if (taken) messages.push(mail);
        heldReplies.set(session.id, () => {
          if (closed.has(session.id)) return;
          if (!taken) messages.push(mail);
          callback();
        });
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    rejectNext: (count) => {
      rejections = count;
    },
    hold: (takenBeforeReply) => {
      holding = takenBeforeReply;
    },
    release: () => {
      holding = undefined;
      for (const reply of heldReplies.values()) reply();
      heldReplies.clear();
    },
    held: () => heldReplies.size,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
