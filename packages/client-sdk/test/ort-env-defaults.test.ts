/**
 * What the SDK sets in onnxruntime-web's `env` on a page that set nothing (Node, WASM): the threads (1
 * when not cross-origin isolated), and nothing else — the log level stays ORT's default ('warning'; the
 * SDK's sessions ask for errors only through their own options), the proxy stays off as ORT has it, the
 * wasm paths stay unset when the SDK is not given any. ort-env.test.ts: a page that configured ORT first.
 */

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createReconstructor, memoryStore } from '../src/index.ts';
import { folderFetch } from './fitted-model.ts';

const ROOT = join(import.meta.dirname, '../../..');
const ecg = new Float32Array(12 * 500).map((_, i) => Math.sin(i * 0.031) * 0.6 + Math.cos(i * 0.0071) * 0.2);

describe("onnxruntime-web's env on a page that set nothing", () => {
  it('gets the threads from the SDK, and nothing else', async () => {
    const ort = await import('onnxruntime-web/wasm');
    expect(ort.env.wasm.numThreads).toBeUndefined();
    expect(ort.env.logLevel).toBe('warning');
    const r = await createReconstructor({
      model: 'cnn-lstm',
      modelsUrl: 'https://models.test',
      fetch: folderFetch(join(ROOT, 'models')),
      device: 'wasm',
      cache: memoryStore(),
    });
    expect((await r.reconstruct(ecg)).tmp.every(Number.isFinite)).toBe(true);
    expect(ort.env.wasm.numThreads).toBe(1);
    expect(ort.env.logLevel).toBe('warning');
    expect(ort.env.wasm.proxy ?? false).toBe(false);
    expect(ort.env.wasm.wasmPaths).toBeUndefined();
    await r.dispose();
  });
});
