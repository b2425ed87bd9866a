/** Prometheus metrics (GET /metrics): what came in through the DET and what the monitors sent. */
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

/** DET triggers by outcome: received, accepted, ignored, rejected (4xx), failed (5xx). */
export const triggersTotal = new Counter({
  name: 'redcap_triggers_total',
  help: 'REDCap Data Entry Triggers received at POST /redcap, by outcome',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

/** Emails actually handed to the transport (the worker process counts these). */
export const emailsSentTotal = new Counter({
  name: 'emails_sent_total',
  help: 'Emails sent to admins, by kind',
  labelNames: ['kind'] as const,
  registers: [metricsRegistry],
});
