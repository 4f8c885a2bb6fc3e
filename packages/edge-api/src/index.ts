/**
 * @module
 * Edge API (Hono on Cloudflare Workers): the model registry (D1), content-addressed weight blobs (R2) and
 * the CPU fallback inference API (Open Inference Protocol v2, onnxruntime-web's WASM build).
 * Every error is `{ "error": { "code", "message" } }`.
 */

import { Hono } from 'hono';
import { errorBody, handleError } from './errors.ts';
import { rateLimit } from './ratelimit.ts';
import { blobs } from './routes/blobs.ts';
import { inference } from './routes/inference.ts';
import { models } from './routes/models.ts';
import { orphans } from './routes/orphans.ts';
import { securityHeaders } from './security.ts';

export const app = new Hono<{ Bindings: Env }>();

app.onError(handleError);
app.notFound((c) =>
  c.json(errorBody('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404),
);

// Before the routes: security headers on every response, the infer limit before a body is read.
app.use('*', securityHeaders());
const inferLimit = rateLimit();
app.use('/v2/models/:name/infer', inferLimit);
app.use('/v2/models/:name/versions/:version/infer', inferLimit);

app.route('/v1/models', models);
app.route('/v1/blobs', blobs);
app.route('/v1/admin/orphans', orphans);
app.route('/v2', inference);

export default app;
