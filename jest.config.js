/** What every project compiles and runs the same way. */
const common = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.tsx?$': 'ts-jest',
    // Packages published as ES modules only (the OIDC client and its JOSE code, Preact): jest's CommonJS runtime
    // cannot require them, so they are compiled to CommonJS like our own files.
    '^.+\\.m?js$': ['ts-jest', { tsconfig: { allowJs: true }, isolatedModules: true }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(openid-client|oauth4webapi|jose|preact|preact-render-to-string)/)'],
};

/**
 * Two projects: `fast` (test/unit/ and test/workflows/: pure code, and the workflows on the time-skipping server with
 * stubbed activities) needs nothing started for it; `services` (everything else) gets the suite's PostgreSQL and
 * Temporal dev server from the global setup. Jest runs a project's global setup only when one of its tests runs,
 * so `npx jest test/workflows` starts neither; `npm test` runs both projects.
 * @type {import('jest').Config}
 */
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'fast',
      roots: ['<rootDir>/test/unit', '<rootDir>/test/workflows'],
      testMatch: ['**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'services',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      // test/production/ needs the production Temporal server: `npm run test:production` (jest.production.config.js);
      // test/compose/ a Docker engine: `npm run test:compose` (jest.compose.config.js).
      testPathIgnorePatterns: [
        '/node_modules/',
        '<rootDir>/test/production/',
        '<rootDir>/test/compose/',
        '<rootDir>/test/unit/',
        '<rootDir>/test/workflows/',
      ],
      // Real PostgreSQL and a Temporal dev server for the whole run; each test file gets its own database.
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
  testTimeout: 120_000,
  // Three files at once on two cores: the fault and dev-server tests spend most of their time waiting (timers,
  // restarts, other processes), so a third runner fills the idle time.
  maxWorkers: 3,
};
