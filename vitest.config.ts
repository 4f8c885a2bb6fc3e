import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// .ci/run sets VITEST_JSON_REPORT to count passed/failed tests from vitest's JSON report.
const jsonReport = process.env.VITEST_JSON_REPORT;

/** One project per package (tests beside the code) plus test/ for whole-repository checks. */
const project = (name: string, include: string[]) => ({ extends: true as const, test: { name, include } });

export default defineConfig({
  // The workspace packages' `exports` name their built dist/; inside the repository tsconfig.base.json's
  // `paths` send @ecg-tmp/core and @ecg-tmp/client-sdk to their TypeScript source instead.
  resolve: { tsconfigPaths: true },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The reliability reporter writes docs/reliability.md from the figures reliability tests report.
    reporters: [
      'default',
      './test/reliability-reporter.ts',
      ...(jsonReport ? [['json', { outputFile: jsonReport }] as ['json', { outputFile: string }]] : []),
    ],
    projects: [
      ...['core', 'simulator', 'trainer', 'client-sdk', 'demo'].map((p) =>
        project(p, [`packages/${p}/src/**/*.test.ts`, `packages/${p}/test/**/*.test.ts`]),
      ),
      // The edge API runs inside workerd with real local D1 and R2 (miniflare), configured from the
      // root wrangler.toml; migrations are applied by test/setup.ts.
      {
        extends: true as const,
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations('packages/edge-api/migrations'),
                // The suites send thousands of infers from one client; the limit's own test
                // (access.test.ts) turns it on with a small limit per request.
                INFER_RATE_LIMIT: '0',
              },
            },
          })),
        ],
        test: {
          name: 'edge-api',
          include: ['packages/edge-api/test/**/*.test.ts'],
          setupFiles: ['packages/edge-api/test/setup.ts'],
        },
      },
      project('repo', ['test/**/*.test.ts']),
    ],
  },
});
