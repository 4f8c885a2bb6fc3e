import { applyD1Migrations, env } from 'cloudflare:test';

// Each test file gets fresh storage; the schema comes from the same migrations wrangler applies.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
