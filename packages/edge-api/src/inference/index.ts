/**
 * @module
 * The inference Worker (packages/edge-api/wrangler.inference.toml): the CPU fallback under /v2, the Open
 * Inference Protocol on onnxruntime-web's WASM build (src/routes/inference.ts). It reads manifests from
 * the registry's D1 and weights from its R2 through its own bindings. Every error is
 * `{ "error": { "code", "message" } }`, as on the registry.
 */

import { Hono } from 'hono';
import { storageDeadline } from '../deadline.ts';
import { errorBody, handleError } from '../errors.ts';
import { rateLimit } from '../ratelimit.ts';
import { inference } from '../routes/inference.ts';
import { securityHeaders } from '../security.ts';

export const app = new Hono<{ Bindings: Env }>();

app.onError(handleError);
app.notFound((c) =>
  c.json(errorBody('no_route', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404),
);

// Before the routes: security headers on every response, the infer limit before a body is read.
app.use('*', securityHeaders());
// Every D1/R2 call below, the rate limiter's included, answers within STORAGE_TIMEOUT_MS or 503s.
app.use('*', storageDeadline());
const inferLimit = rateLimit();
app.use('/v2/models/:name/infer', inferLimit);
app.use('/v2/models/:name/versions/:version/infer', inferLimit);

app.route('/v2', inference);

export default app;
