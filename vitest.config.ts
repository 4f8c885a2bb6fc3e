import { defineConfig } from 'vitest/config';

// .ci/run sets VITEST_JSON_REPORT to count passed/failed tests from vitest's JSON report.
const jsonReport = process.env.VITEST_JSON_REPORT;

/** One project per package (tests beside the code) plus test/ for whole-repository checks. */
const project = (name: string, include: string[]) => ({ extends: true as const, test: { name, include } });

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
    projects: [
      ...['core', 'simulator', 'trainer', 'edge-api', 'client-sdk'].map((p) =>
        project(p, [`packages/${p}/src/**/*.test.ts`, `packages/${p}/test/**/*.test.ts`]),
      ),
      project('repo', ['test/**/*.test.ts']),
    ],
  },
});
