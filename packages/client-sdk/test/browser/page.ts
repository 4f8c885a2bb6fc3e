/**
 * @module
 * The test page's script (bundled by server.ts with @ecg-tmp/core; the SDK and onnxruntime-web stay
 * imports the page resolves): loads the built SDK bundle as an app would, from its URL, and exposes
 * `globalThis.harness` (api.ts) for the browser tests and benchmarks/sdk.ts to drive.
 */

import { N_SITES, N_STEPS, SEGMENT_STEPS } from '@ecg-tmp/core';
import type * as Ort from 'onnxruntime-web';
import type * as Sdk from '../../src/index.ts';
import type { HarnessApi, HarnessGlobal, Opened, OrtSettings, RunResult } from './api.ts';
import { openStock, runStock, type StockModel } from './stock.ts';

// Variables, not literals: the bundler must leave these imports to the page (the SDK bundle by URL,
// onnxruntime-web through the import map), so the page runs the same files an app would.
const SDK_URL = '/sdk/ecg-tmp-sdk.js';
const ORT_SPECIFIERS = { webgpu: 'onnxruntime-web/webgpu', wasm: 'onnxruntime-web/wasm' } as const;
const WASM_PATHS = '/ort/';

// Every Worker the page constructs (the SDK's, ORT's proxy), for the tests to tell which ran.
const workers: { url: string; name: string }[] = [];
const PageWorker = globalThis.Worker;
globalThis.Worker = class extends PageWorker {
  constructor(url: string | URL, options?: WorkerOptions) {
    super(url, options);
    workers.push({ url: String(url), name: options?.name ?? '' });
  }
};

const sdk = (await import(SDK_URL)) as typeof Sdk;
const open = new Map<number, Sdk.Reconstructor>();
/** Every progress event of each open reconstructor, loading and after (a lost GPU device's fallback). */
const events = new Map<number, { status: string; reason?: string }[]>();
let nextId = 1;

/** Stock sessions per model and execution provider, opened on first use. */
const stockModels = new Map<string, Promise<StockModel>>();

function reconstructor(id: number): Sdk.Reconstructor {
  const r = open.get(id);
  if (r === undefined) throw new Error(`no reconstructor ${id}`);
  return r;
}

const harness: HarnessApi = {
  async open(options) {
    const progress: Opened['progress'][number][] = [];
    const all: { status: string; reason?: string }[] = [];
    const r = await sdk.createReconstructor({
      model: options.model,
      device: options.device,
      edgeUrl: options.edgeUrl,
      wasmPaths: options.wasmPaths ?? WASM_PATHS,
      ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
      ...(options.cache === undefined ? {} : { cache: options.cache }),
      ...(options.numThreads === undefined ? {} : { numThreads: options.numThreads }),
      ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
      ...(options.workerUrl === undefined ? {} : { workerUrl: options.workerUrl }),
      onProgress: (e) => {
        progress.push(e.status === 'verify' ? { status: e.status, cached: e.cached } : { status: e.status });
        all.push('reason' in e ? { status: e.status, reason: e.reason } : { status: e.status });
      },
    });
    const id = nextId++;
    open.set(id, r);
    events.set(id, all);
    return { id, backend: r.backend, fallbackReason: r.fallbackReason, progress };
  },

  async run(id, ecg, runs = 1): Promise<RunResult> {
    const r = reconstructor(id);
    const ms: number[] = [];
    let last: Sdk.Reconstruction | undefined;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      last = await r.reconstruct(ecg);
      ms.push(performance.now() - t0);
    }
    return { tmp: last!.tmp, backend: last!.backend, ms };
  },

  async stream(id, ecg, segments) {
    const r = reconstructor(id);
    const b = ecg.length / (12 * N_STEPS);
    const width = segments * SEGMENT_STEPS;
    const tmp = new Float32Array(b * N_SITES * width);
    const t0 = performance.now();
    const it = r.stream(ecg)[Symbol.asyncIterator]();
    for (let i = 0; i < segments; i++) {
      const { value, done } = await it.next();
      if (done) throw new Error(`the stream ended after ${i} segments`);
      for (let row = 0; row < b * N_SITES; row++)
        tmp.set(value.tmp.subarray(row * SEGMENT_STEPS, (row + 1) * SEGMENT_STEPS), row * width + value.from);
    }
    return { tmp, backend: r.backend, ms: [performance.now() - t0] };
  },

  async abortAfter(id, ecg, segments) {
    const controller = new AbortController();
    let seen = 0;
    let abortedAt = 0;
    try {
      for await (const _ of reconstructor(id).stream(ecg, { signal: controller.signal })) {
        if (++seen === segments) {
          abortedAt = performance.now();
          controller.abort();
        }
      }
    } catch (err) {
      return { error: (err as Error).name, segments: seen, ms: performance.now() - abortedAt };
    }
    return { error: 'none', segments: seen, ms: 0 };
  },

  async dispose(id) {
    await open.get(id)?.dispose();
    open.delete(id);
    events.delete(id);
  },

  async stock(options, ecg) {
    const ort = (await import(ORT_SPECIFIERS[options.ep])) as typeof Ort;
    const key = `${options.model}/${options.ep}`;
    let stock = stockModels.get(key);
    if (stock === undefined) {
      stock = openStock(ort, options.edgeUrl, options.model, options.ep);
      stockModels.set(key, stock);
    }
    const opened = await stock;
    const ms: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      const t0 = performance.now();
      await runStock(ort, opened, ecg);
      ms.push(performance.now() - t0);
    }
    return { ms };
  },

  gpuBuffers: () => (globalThis as unknown as HarnessGlobal).gpuBufferCounts?.(),

  async loseGpuDevice() {
    const ort = (await import(ORT_SPECIFIERS.webgpu)) as typeof Ort;
    const device = (await Promise.resolve(ort.env.webgpu.device as unknown).catch(() => undefined)) as
      | { destroy(): void }
      | undefined;
    if (device === undefined) return false;
    device.destroy();
    return true;
  },

  async configureOrt(settings) {
    const ort = (await import(ORT_SPECIFIERS.wasm)) as typeof Ort;
    if (settings.wasmPaths !== undefined) ort.env.wasm.wasmPaths = settings.wasmPaths;
    if (settings.numThreads !== undefined) ort.env.wasm.numThreads = settings.numThreads;
    if (settings.proxy !== undefined) ort.env.wasm.proxy = settings.proxy;
    if (settings.logLevel !== undefined) ort.env.logLevel = settings.logLevel as typeof ort.env.logLevel;
    return ortSettings(ort);
  },

  async ortEnv() {
    return ortSettings((await import(ORT_SPECIFIERS.wasm)) as typeof Ort);
  },

  workers() {
    return workers.map((w) => ({ ...w }));
  },

  state(id) {
    const r = reconstructor(id);
    return { backend: r.backend, fallbackReason: r.fallbackReason, progress: [...(events.get(id) ?? [])] };
  },
};

function ortSettings(ort: typeof Ort): OrtSettings {
  const { wasmPaths, numThreads, proxy } = ort.env.wasm;
  return {
    ...(typeof wasmPaths === 'string' ? { wasmPaths } : {}),
    ...(numThreads === undefined ? {} : { numThreads }),
    ...(proxy === undefined ? {} : { proxy }),
    logLevel: ort.env.logLevel,
  };
}

(globalThis as unknown as HarnessGlobal).harness = harness;
