import pino from 'pino';

/** Structured JSON logs. Secrets are redacted wherever they might be passed in. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'redcap-scan-monitor' },
  redact: {
    paths: ['token', '*.token', '*.*.token', 'authorization', '*.authorization', 'headers.authorization', 'secret', '*.secret'],
    censor: '[redacted]',
  },
});

export type Logger = pino.Logger;
