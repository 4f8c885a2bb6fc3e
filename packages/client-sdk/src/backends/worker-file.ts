/**
 * @module
 * The SDK worker script's file name beside the one-file bundle, alone in a module of its own so the
 * build scripts (Node, no DOM types) can name it without importing the worker's page side.
 */

/** Where client-sdk's scripts/build.ts writes src/worker.ts, beside ecg-tmp-sdk.js (and the demo's app.js). */
export const WORKER_FILE = 'ecg-tmp-sdk-worker.js';
