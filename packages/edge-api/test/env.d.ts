declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
    /** Which Worker the test project runs (vitest.config.ts). */
    EDGE_WORKER: 'registry' | 'inference';
    /** Requests per route of the length fuzz: set by `npm run fuzz:lengths`, else '' (the small run). */
    FUZZ_LENGTH_RUNS: string;
  }
}
