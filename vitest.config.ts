import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// .ci/run sets VITEST_JSON_REPORT to count passed/failed tests from vitest's JSON report.
const jsonReport = process.env.VITEST_JSON_REPORT;

/** One project per package (tests beside the code) plus test/ for whole-repository checks. */
const project = (name: string, include: string[]) => ({ extends: true as const, test: { name, include } });

/** One edge Worker's test project: SELF is the Worker `configPath` describes. */
const edgeProject = (worker: 'registry' | 'inference', configPath: string, include: string[]) => ({
  extends: true as const,
  plugins: [
    cloudflareTest(async () => ({
      wrangler: { configPath },
      miniflare: {
        bindings: {
          EDGE_WORKER: worker,
          // `npm run fuzz:lengths` sets it for the full-size length fuzz (packages/edge-api/test/fuzz-lengths.ts).
          FUZZ_LENGTH_RUNS: process.env.FUZZ_LENGTH_RUNS ?? '',
          TEST_MIGRATIONS: await readD1Migrations('packages/edge-api/migrations'),
          // The suites send thousands of infers from one client; the limit's own test
          // (inference/access.test.ts) turns it on with a small limit per request.
          INFER_RATE_LIMIT: '0',
        },
      },
    })),
  ],
  test: {
    name: `edge-${worker}`,
    include,
    setupFiles: ['packages/edge-api/test/setup.ts'],
  },
});

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
      // The edge's two Workers run inside workerd with real local D1 and R2 (miniflare), each configured
      // from its own wrangler config; migrations are applied by packages/edge-api/test/setup.ts.
      edgeProject('registry', './wrangler.toml', ['packages/edge-api/test/*.test.ts']),
      edgeProject('inference', './packages/edge-api/wrangler.inference.toml', [
        'packages/edge-api/test/inference/**/*.test.ts',
        // Each Worker's routes that take a name (the file picks them by EDGE_WORKER).
        'packages/edge-api/test/hostile-names.test.ts',
      ]),
      project('repo', ['test/**/*.test.ts']),
    ],
  },
});
