/**
 * The built SDK bundle (dist/ecg-tmp-sdk.js) in headless Chromium against a real edge (`npm start`), as
 * an app would load it: a plain module script, onnxruntime-web through an import map, a cross-origin
 * isolated page (test/browser/ has the harness). WebGPU is SwiftShader's (Vulkan on the CPU), so it is
 * correct but slow: B = 1 throughout, and the Transformer on WebGPU is checked over its first segments.
 *
 * Tolerances are in mV: 1e-3 on the model's normalised Vm scale is 1e-3 × VM_SPAN_MV = 0.136 mV (WebGPU
 * computes in another order than the CPU); the WASM and remote backends run the reference's own
 * runtime and must agree to 1e-4 of the scale (0.0136 mV), as the edge's tests ask of it.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { N_SITES, N_STEPS, SEGMENT_STEPS, VM_SPAN_MV } from '@ecg-tmp/core';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import aliases from '../../../models/aliases.json' with { type: 'json' };
import { KEPT_STEPS, STRIDE } from '../../edge-api/test/fixtures/references.ts';
import type { HarnessDevice } from './browser/api.ts';
import { CHROMIUM, call, type Harness, hasChromium, startHarness } from './browser/harness.ts';

const STABLE: Record<string, string> = Object.fromEntries(
  Object.entries(aliases).map(([name, a]) => [name, a.stable]),
);

const WEBGPU_TOLERANCE_MV = 1e-3 * VM_SPAN_MV;
const CPU_TOLERANCE_MV = 1e-4 * VM_SPAN_MV;
const MODELS = ['cnn', 'cnn-lstm', 'transformer'] as const;
type Model = (typeof MODELS)[number];
/** The Transformer's WebGPU check: the encoder's segment and four decoder steps (cache up to 40 tokens). */
const TRANSFORMER_WEBGPU_SEGMENTS = 5;

const FIXTURES = join(import.meta.dirname, '../../edge-api/test/fixtures');
const floats = async (file: string) =>
  new Float32Array((await readFile(join(FIXTURES, file))).buffer.slice(0));
/** The first held-out ECG of the fixtures, [1 × 12 × 500] mV. */
const ecg = (await floats('ecg.bin')).slice(0, 12 * N_STEPS);

/** Largest |tmp − Node reference| (mV) over the reference's steps (every STRIDE-th) below `width`. */
async function referenceDeviation(model: Model, tmp: Float32Array, width = N_STEPS): Promise<number> {
  const reference = await floats(`${model}.full.bin`);
  let worst = 0;
  for (let site = 0; site < N_SITES; site++) {
    for (let k = 0; k * STRIDE < width; k++) {
      const diff = Math.abs(tmp[site * width + k * STRIDE]! - reference[site * KEPT_STEPS + k]!);
      worst = Math.max(worst, diff);
    }
  }
  return worst;
}

/** Largest |a − b| over the first `width` steps of each site of two [1 × 75 × ·] outputs. */
function deviation(a: Float32Array, aWidth: number, b: Float32Array, bWidth: number, width: number): number {
  let worst = 0;
  for (let site = 0; site < N_SITES; site++) {
    for (let t = 0; t < width; t++)
      worst = Math.max(worst, Math.abs(a[site * aWidth + t]! - b[site * bWidth + t]!));
  }
  return worst;
}

const skipReason = hasChromium()
  ? ''
  : ` — SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium libvulkan1, or set CHROMIUM_PATH)`;
if (skipReason !== '') console.warn(`browser.test.ts${skipReason}`);

describe.skipIf(!hasChromium())(`the SDK bundle in headless Chromium with a real edge${skipReason}`, () => {
  let h: Harness;
  let context: BrowserContext;
  let page: Page;
  const wasmOutputs = new Map<Model, Promise<Float32Array>>();

  beforeAll(async () => {
    h = await startHarness();
    context = await h.newContext();
    page = await h.openPage(context);
  }, 150_000);

  afterAll(async () => {
    await h?.close();
  });

  async function reconstruct(on: Page, model: Model, device: HarnessDevice) {
    const opened = await call(on, 'open', { model, device, edgeUrl: h.edge.url, cache: 'none' });
    const result = await call(on, 'run', opened.id, ecg);
    await call(on, 'dispose', opened.id);
    return { opened, result };
  }

  /** The forced-WASM output of a model, computed once. */
  function wasmOutput(model: Model): Promise<Float32Array> {
    let out = wasmOutputs.get(model);
    if (out === undefined) {
      out = reconstruct(page, model, 'wasm').then(({ result }) => result.tmp);
      wasmOutputs.set(model, out);
    }
    return out;
  }

  it.each(MODELS)(
    '%s: device wasm runs in the browser and matches the Node reference',
    async (model) => {
      const { opened, result } = await reconstruct(page, model, 'wasm');
      expect(opened.backend).toBe('wasm');
      expect(result.backend).toBe('wasm');
      expect(result.tmp.length).toBe(N_SITES * N_STEPS);
      expect(await referenceDeviation(model, result.tmp)).toBeLessThanOrEqual(CPU_TOLERANCE_MV);
    },
    60_000,
  );

  it.each(MODELS)(
    '%s: device remote calls the edge infer endpoint and matches the reference',
    async (model) => {
      const infers: string[] = [];
      const onRequest = (req: { url(): string; method(): string }) => {
        if (req.method() === 'POST' && req.url().includes('/infer')) infers.push(req.url());
      };
      context.on('request', onRequest);
      try {
        const { opened, result } = await reconstruct(page, model, 'remote');
        expect(opened.backend).toBe('remote');
        expect(result.backend).toBe('remote');
        expect(infers).toEqual([`${h.edge.url}/v2/models/${model}/versions/${STABLE[model]}/infer`]);
        expect(await referenceDeviation(model, result.tmp)).toBeLessThanOrEqual(CPU_TOLERANCE_MV);
      } finally {
        context.off('request', onRequest);
      }
    },
    60_000,
  );

  it.each(['cnn', 'cnn-lstm'] as const)(
    '%s: device auto picks WebGPU, whose output matches WASM and the Node reference',
    async (model) => {
      const { opened, result } = await reconstruct(page, model, 'auto');
      expect(opened.backend).toBe('webgpu');
      expect(opened.fallbackReason).toBeUndefined();
      expect(result.backend).toBe('webgpu');
      const wasm = await wasmOutput(model);
      expect(deviation(result.tmp, N_STEPS, wasm, N_STEPS, N_STEPS)).toBeLessThanOrEqual(WEBGPU_TOLERANCE_MV);
      expect(await referenceDeviation(model, result.tmp)).toBeLessThanOrEqual(WEBGPU_TOLERANCE_MV);
    },
    90_000,
  );

  it(`transformer: device auto picks WebGPU; its first ${TRANSFORMER_WEBGPU_SEGMENTS} streamed segments (KV cache on the GPU) match WASM and the reference`, async () => {
    // A full 500-step decode on SwiftShader takes minutes: the page is closed to stop the rest.
    const own = await h.openPage(context);
    const width = TRANSFORMER_WEBGPU_SEGMENTS * SEGMENT_STEPS;
    let streamed: Awaited<ReturnType<typeof call<'stream'>>>;
    try {
      const opened = await call(own, 'open', {
        model: 'transformer',
        device: 'auto',
        edgeUrl: h.edge.url,
        cache: 'none',
      });
      expect(opened.backend).toBe('webgpu');
      expect(opened.fallbackReason).toBeUndefined();
      streamed = await call(own, 'stream', opened.id, ecg, TRANSFORMER_WEBGPU_SEGMENTS);
    } finally {
      await own.close();
    }
    expect(streamed.backend).toBe('webgpu');
    const wasm = await wasmOutput('transformer');
    expect(deviation(streamed.tmp, width, wasm, N_STEPS, width)).toBeLessThanOrEqual(WEBGPU_TOLERANCE_MV);
    expect(await referenceDeviation('transformer', streamed.tmp, width)).toBeLessThanOrEqual(
      WEBGPU_TOLERANCE_MV,
    );
  }, 120_000);

  it('device auto on a page without the import map for onnxruntime-web falls back to the edge and says why', async () => {
    const bare = await h.openPage(context, { importMap: false });
    try {
      const { opened, result } = await reconstruct(bare, 'cnn-lstm', 'auto');
      expect(opened.backend).toBe('remote');
      expect(opened.fallbackReason).toMatch(
        /^webgpu: onnxruntime-web\/webgpu could not be imported .*; wasm: onnxruntime-web\/wasm could not be imported/,
      );
      expect(await referenceDeviation('cnn-lstm', result.tmp)).toBeLessThanOrEqual(CPU_TOLERANCE_MV);
    } finally {
      await bare.close();
    }
  }, 60_000);

  it('a second page load in the same context downloads no blobs: the weights come from Cache Storage', async () => {
    const fresh = await h.newContext();
    try {
      const blobs: string[] = [];
      fresh.on('request', (req) => {
        if (req.url().includes('/v1/blobs/')) blobs.push(req.url());
      });
      const load = async (run: boolean) => {
        const on = await h.openPage(fresh);
        const opened = await call(on, 'open', { model: 'transformer', device: 'wasm', edgeUrl: h.edge.url });
        const result = run ? await call(on, 'run', opened.id, ecg) : undefined;
        await on.close();
        return { opened, result };
      };
      const first = await load(false);
      expect(blobs).toHaveLength(2); // encoder and decoder step, fp32
      expect(first.opened.progress.filter((e) => e.status === 'verify')).toEqual([
        { status: 'verify', cached: false },
        { status: 'verify', cached: false },
      ]);
      blobs.length = 0;
      const second = await load(true);
      expect(blobs).toEqual([]);
      expect(second.opened.progress.filter((e) => e.status === 'verify')).toEqual([
        { status: 'verify', cached: true },
        { status: 'verify', cached: true },
      ]);
      expect(await referenceDeviation('transformer', second.result!.tmp)).toBeLessThanOrEqual(
        CPU_TOLERANCE_MV,
      );
    } finally {
      await fresh.close();
    }
  }, 60_000);

  it("leaves the page's own onnxruntime-web settings alone (the page configured ORT before the SDK)", async () => {
    const own = await h.openPage(context);
    try {
      // As an app using transformers.js would have: the WASM build's env set before any SDK call.
      const app = { wasmPaths: '/ort/', numThreads: 1, proxy: false, logLevel: 'fatal' };
      expect(await call(own, 'configureOrt', app)).toEqual(app);
      // The SDK given other values: a wasm path that does not exist would fail the load if it were used.
      const opened = await call(own, 'open', {
        model: 'cnn-lstm',
        device: 'wasm',
        edgeUrl: h.edge.url,
        cache: 'none',
        wasmPaths: '/nowhere/',
        numThreads: 3,
      });
      const { tmp } = await call(own, 'run', opened.id, ecg);
      expect(await referenceDeviation('cnn-lstm', tmp)).toBeLessThanOrEqual(CPU_TOLERANCE_MV);
      expect(await call(own, 'ortEnv')).toEqual(app);
      await call(own, 'dispose', opened.id);
    } finally {
      await own.close();
    }
  }, 60_000);

  it('200 reconstructions in a row on WebGPU (cnn-lstm, B = 1) do not grow the live GPU buffers; dispose frees them', async () => {
    const own = await h.openPage(context);
    try {
      const opened = await call(own, 'open', { model: 'cnn-lstm', device: 'webgpu', edgeUrl: h.edge.url });
      await call(own, 'run', opened.id, ecg, 10);
      const after10 = (await call(own, 'gpuBuffers'))!;
      const last = await call(own, 'run', opened.id, ecg, 190);
      const after200 = (await call(own, 'gpuBuffers'))!;
      expect(last.backend).toBe('webgpu');
      expect(after10.live).toBeGreaterThan(0);
      // A few buffers of slack for ORT's allocator settling; a leak of one per run would add 190.
      expect(after200.live).toBeLessThanOrEqual(after10.live + 4);
      expect(after200.liveBytes).toBeLessThanOrEqual(after10.liveBytes * 1.05);
      await call(own, 'dispose', opened.id);
      // dispose() releases the sessions, and with them every buffer they held (weights included).
      expect((await call(own, 'gpuBuffers'))!.live).toBe(0);
    } finally {
      await own.close();
    }
  }, 300_000);
});
