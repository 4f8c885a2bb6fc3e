/**
 * The SDK and an app that configured onnxruntime-web first (as one using transformers.js has), in Node
 * on WASM: ORT's `env` — wasm paths, threads, proxy, log level — is the app's before and after the SDK
 * loads ORT and reconstructs, even when the SDK is given other values (a wasm path that does not exist,
 * which would fail the load if it were used). ort-env-defaults.test.ts has the other half: on a page
 * that set nothing, what the SDK sets. (One file each: ORT's env lives as long as its module, i.e. the
 * test file's worker.) Both fail on the SDK before this change, which set all four on first load.
 */

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createReconstructor, memoryStore } from '../src/index.ts';
import { folderFetch } from './fitted-model.ts';

const ROOT = join(import.meta.dirname, '../../..');
const ecg = new Float32Array(12 * 500).map((_, i) => Math.sin(i * 0.031) * 0.6 + Math.cos(i * 0.0071) * 0.2);

// The app, before the SDK: its own build of ORT (the one the SDK imports for WASM) and its settings.
const ort = await import('onnxruntime-web/wasm');
// One thread: Node's ORT cannot start its worker threads here (the SDK's option of 3 would fail too).
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
// Where this app serves ORT's files: here, ORT's own folder (as a file: URL prefix).
const APP_PATHS = new URL('./', import.meta.resolve('onnxruntime-web/wasm')).href;
ort.env.wasm.wasmPaths = APP_PATHS;
ort.env.logLevel = 'fatal';
const settings = () => {
  const { wasmPaths, numThreads, proxy } = ort.env.wasm;
  return { wasmPaths, numThreads, proxy, logLevel: ort.env.logLevel };
};
const before = settings();

describe("an app's onnxruntime-web settings", () => {
  it('stay as the app set them while the SDK loads ORT and reconstructs, whatever the SDK is given', async () => {
    const r = await createReconstructor({
      model: 'cnn-lstm',
      modelsUrl: 'https://models.test',
      fetch: folderFetch(join(ROOT, 'models')),
      device: 'wasm',
      cache: memoryStore(),
      // Ignored here: the app set its own (a path that does not exist would fail the load if used).
      wasmPaths: '/nowhere/',
      numThreads: 3,
    });
    const { tmp } = await r.reconstruct(ecg);
    expect(tmp.every(Number.isFinite)).toBe(true);
    expect(settings()).toEqual(before);
    expect(settings()).toEqual({ wasmPaths: APP_PATHS, numThreads: 1, proxy: false, logLevel: 'fatal' });
    await r.dispose();
  });
});
