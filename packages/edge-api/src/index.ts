/**
 * @module
 * The registry Worker (Hono on Cloudflare Workers, the root wrangler.toml): model metadata (D1) and
 * content-addressed weight blobs (R2) under /v1 — models, versions, aliases, blobs, publish, admin. The
 * CPU fallback inference API (/v2) is another Worker, src/inference/index.ts, so this one carries no ONNX
 * Runtime and fits the Workers Free plan. Every error is `{ "error": { "code", "message" } }`.
 */

import { Hono } from 'hono';
import { storageDeadline } from './deadline.ts';
import { errorBody, handleError } from './errors.ts';
import { blobs } from './routes/blobs.ts';
import { models } from './routes/models.ts';
import { orphans } from './routes/orphans.ts';
import { securityHeaders } from './security.ts';

export const app = new Hono<{ Bindings: Env }>();

app.onError(handleError);
app.notFound((c) =>
  c.json(errorBody('no_route', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404),
);

app.use('*', securityHeaders());
// Every D1/R2 call below, the rate limiter's included, answers within STORAGE_TIMEOUT_MS or 503s.
app.use('*', storageDeadline());

app.route('/v1/models', models);
app.route('/v1/blobs', blobs);
app.route('/v1/admin/orphans', orphans);

export default app;
