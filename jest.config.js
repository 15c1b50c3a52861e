// Two projects: unit (pure logic, fakes allowed) and integration (real Postgres,
// haproxy, Docker, Groovy). `npm test` runs both; see scripts/test.mjs.
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }];
module.exports = {
  // Per-project testTimeout is not applied by jest 30; set it here for everyone.
  testTimeout: 120000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/unit'],
      testMatch: ['**/*.test.ts'],
      transform: { '^.+\\.ts$': tsJest },
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/integration'],
      testMatch: ['**/*.test.ts'],
      transform: { '^.+\\.ts$': tsJest },
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      // Every sidecar an integration test starts checks its answers against the result schemas.
      setupFiles: ['<rootDir>/test/support/check-results.ts'],
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      testTimeout: 120000,
    },
  ],
};
