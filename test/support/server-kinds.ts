/**
 * Which Temporal server a test runs on: `dev` (`temporal server start-dev`, SQLite) or `production`
 * (`temporal-server` on PostgreSQL, test/support/production-temporal.ts). Tests that concern the server run once
 * per kind in TEST_TEMPORAL_SERVERS (comma separated; default `dev`, which `npm test` runs;
 * `npm run test:production` sets `production`).
 */
export type TemporalServerKind = 'dev' | 'production';

export function temporalServerKinds(): TemporalServerKind[] {
  const kinds = (process.env.TEST_TEMPORAL_SERVERS ?? 'dev')
    .split(',')
    .map((kind) => kind.trim())
    .filter(Boolean);
  for (const kind of kinds) {
    if (kind !== 'dev' && kind !== 'production')
      throw new Error(`TEST_TEMPORAL_SERVERS: unknown server '${kind}' (expected dev, production)`);
  }
  return kinds as TemporalServerKind[];
}
