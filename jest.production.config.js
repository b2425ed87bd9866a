/**
 * `npm run test:production`: the tests on the production Temporal server (`temporal-server` on PostgreSQL, set up
 * as docker-compose.yml does; test/support/production-temporal.ts): test/production/ and the fault tests that
 * concern the Temporal server, which `npm test` runs on the dev server. Every file starts its own servers.
 */
process.env.TEST_TEMPORAL_SERVERS = process.env.TEST_TEMPORAL_SERVERS || 'production';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: [
    '<rootDir>/test/production/*.test.ts',
    '<rootDir>/test/faults/services-restart.test.ts',
    '<rootDir>/test/faults/worker-crash.test.ts',
  ],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // One workflow bundle for every worker the tests start (WORKFLOW_BUNDLE_PATH).
  globalSetup: '<rootDir>/test/production/global-setup.ts',
  testTimeout: 300_000,
  maxWorkers: 2,
};
