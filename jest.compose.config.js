/**
 * `npm run test:compose`: docker-compose.yml on a Docker engine (test/compose/), with the images of
 * scripts/local-images.sh. Each file runs its own compose project, one at a time.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['<rootDir>/test/compose/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 900_000,
  maxWorkers: 1,
};
