/**
 * @module
 * Edge API (Hono on Cloudflare Workers): the model registry (D1), content-addressed weight blobs (R2) and
 * the CPU fallback inference API (Open Inference Protocol v2, onnxruntime-web's WASM build).
 * Every error is `{ "error": { "code", "message" } }`.
 */

import { Hono } from 'hono';
import { errorBody, handleError } from './errors.ts';
import { blobs } from './routes/blobs.ts';
import { inference } from './routes/inference.ts';
import { models } from './routes/models.ts';

export const app = new Hono<{ Bindings: Env }>();

app.onError(handleError);
app.notFound((c) =>
  c.json(errorBody('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404),
);

app.route('/v1/models', models);
app.route('/v1/blobs', blobs);
app.route('/v2', inference);

export default app;
