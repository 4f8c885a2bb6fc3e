import { defineConfig } from 'vitest/config';

// .ci/run sets VITEST_JSON_REPORT to count passed/failed tests from vitest's JSON report.
const jsonReport = process.env.VITEST_JSON_REPORT;

export default defineConfig({
  test: {
    projects: ['packages/*', 'test'],
    testTimeout: 60_000,
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
