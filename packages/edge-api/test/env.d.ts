declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
    /** Which Worker the test project runs (vitest.config.ts). */
    EDGE_WORKER: 'registry' | 'inference';
  }
}
