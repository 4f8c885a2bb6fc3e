/**
 * @module
 * Open Inference Protocol v2 (KServe / Triton) for the CPU fallback — filled in by the inference work.
 */

import { Hono } from 'hono';

export const inference = new Hono<{ Bindings: Env }>();

inference.get('/health/live', (c) => c.json({ live: true }));
