/** Prometheus metrics (GET /metrics): what came in through the DET or only through reconciliation, and what the monitors sent. */
import http from 'node:http';
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

/** Rows of completed forms that reached us only through reconciliation (their intake started there), by REDCap config id. */
export const missedTriggersTotal = new Counter({
  name: 'redcap_missed_triggers_total',
  help: 'Completed REDCap records that reached us without a Data Entry Trigger (found by reconciliation), by REDCap config',
  labelNames: ['config'] as const,
  registers: [metricsRegistry],
});

/** XNAT experiments whose label names no session of their project (reported, not filed), by XNAT project; each once. */
export const xnatLabelProblemsTotal = new Counter({
  name: 'xnat_label_problems_total',
  help: 'XNAT experiments found by the sync whose label names no session of their project, by XNAT project',
  labelNames: ['project'] as const,
  registers: [metricsRegistry],
});

/** Emails actually handed to the transport (the worker process counts these). */
export const emailsSentTotal = new Counter({
  name: 'emails_sent_total',
  help: 'Emails sent to admins, by kind',
  labelNames: ['kind'] as const,
  registers: [metricsRegistry],
});

/** Failed-intake and missed-trigger emails kept back by the hourly limit of their REDCap config (told in the digest). */
export const emailsHeldTotal = new Counter({
  name: 'emails_held_total',
  help: 'Emails to admins held back by the hourly limit of their REDCap config (reported in the daily digest), by kind',
  labelNames: ['kind'] as const,
  registers: [metricsRegistry],
});

/** GET /metrics on its own port, for the worker process (the API serves it through its router). */
export function serveMetrics(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: `No route for ${req.method} ${req.url}` }));
      return;
    }
    metricsRegistry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(text),
      () =>
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: 'Metrics unavailable' })),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}
