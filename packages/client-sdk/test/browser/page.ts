/**
 * @module
 * The test page's script (bundled by server.ts with @ecg-tmp/core; the SDK and onnxruntime-web stay
 * imports the page resolves): loads the built SDK bundle as an app would, from its URL, and exposes
 * `globalThis.harness` (api.ts) for the browser tests and benchmarks/sdk.ts to drive.
 */

import { TRANSFORMER_IO as io, N_SITES, N_STEPS, parseManifest, SEGMENT_STEPS } from '@ecg-tmp/core';
import type * as Ort from 'onnxruntime-web';
import type * as Sdk from '../../src/index.ts';
import type { HarnessApi, HarnessGlobal, Opened, RunResult, StockOptions } from './api.ts';

// Variables, not literals: the bundler must leave these imports to the page (the SDK bundle by URL,
// onnxruntime-web through the import map), so the page runs the same files an app would.
const SDK_URL = '/sdk/ecg-tmp-sdk.js';
const ORT_SPECIFIERS = { webgpu: 'onnxruntime-web/webgpu', wasm: 'onnxruntime-web/wasm' } as const;
const WASM_PATHS = '/ort/';

const sdk = (await import(SDK_URL)) as typeof Sdk;
const open = new Map<number, Sdk.Reconstructor>();
/** Every progress event of each open reconstructor, loading and after (a lost GPU device's fallback). */
const events = new Map<number, { status: string; reason?: string }[]>();
let nextId = 1;

/** Stock sessions per model and execution provider, created on first use. */
const stockSessions = new Map<string, Promise<Ort.InferenceSession[]>>();

async function stockGraphs(ort: typeof Ort, options: StockOptions): Promise<Ort.InferenceSession[]> {
  const base = options.edgeUrl.replace(/\/+$/, '');
  const manifest = parseManifest(
    await (await fetch(`${base}/v1/models/${options.model}/versions/stable`)).json(),
  );
  const roles = manifest.architecture === 'transformer' ? ['encoder', 'decoder-step'] : ['model'];
  const sessions: Ort.InferenceSession[] = [];
  for (const role of roles) {
    const file = manifest.files.find((f) => f.role === role && f.dtype === 'fp32');
    if (file === undefined) throw new Error(`${options.model} has no fp32 ${role} graph`);
    const bytes = new Uint8Array(await (await fetch(`${base}/v1/blobs/${file.sha256}`)).arrayBuffer());
    sessions.push(await ort.InferenceSession.create(bytes, { executionProviders: [options.ep] }));
  }
  return sessions;
}

/**
 * The Transformer without the key/value cache, as benchmarks/onnx-inference.ts runs it: at each step the
 * decoder-step graph gets the whole prefix so far and an empty cache, and every output comes back to
 * the CPU (ORT's default).
 */
async function uncachedDecode(ort: typeof Ort, [encoder, step]: Ort.InferenceSession[], ecg: Ort.Tensor) {
  const b = ecg.dims[0]!;
  const enc = await encoder!.run({ [io.ecg]: ecg });
  const empty = new ort.Tensor('float32', new Float32Array(0), [b, 0, N_SITES]);
  const memory = Object.fromEntries(Object.entries(enc).filter(([k]) => k.startsWith('memory_')));
  const out = new Float32Array(b * N_SITES * N_STEPS);
  const put = (seg: Float32Array, width: number, from: number, at: number) => {
    for (let row = 0; row < b * N_SITES; row++)
      out.set(seg.subarray(row * width + from, row * width + from + SEGMENT_STEPS), row * N_STEPS + at);
  };
  put((await enc[io.segment]!.getData()) as Float32Array, SEGMENT_STEPS, 0, 0);
  for (let k = 1; k < N_STEPS / SEGMENT_STEPS; k++) {
    const width = SEGMENT_STEPS * k;
    const prefix = new Float32Array(b * N_SITES * width);
    for (let row = 0; row < b * N_SITES; row++)
      prefix.set(out.subarray(row * N_STEPS, row * N_STEPS + width), row * width);
    const feeds: Record<string, Ort.Tensor> = {
      [io.segment]: new ort.Tensor('float32', prefix, [b, N_SITES, width]),
      ...memory,
    };
    for (let l = 0; l < 4; l++) feeds[io.pastKey(l)] = feeds[io.pastValue(l)] = empty;
    const r = await step!.run(feeds);
    put((await r[io.nextSegment]!.getData()) as Float32Array, width, width - SEGMENT_STEPS, width);
  }
  return out;
}

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
      wasmPaths: WASM_PATHS,
      ...(options.dtype === undefined ? {} : { dtype: options.dtype }),
      ...(options.cache === undefined ? {} : { cache: options.cache }),
      ...(options.numThreads === undefined ? {} : { numThreads: options.numThreads }),
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

  async dispose(id) {
    await open.get(id)?.dispose();
    open.delete(id);
    events.delete(id);
  },

  async stock(options, ecg) {
    const ort = (await import(ORT_SPECIFIERS[options.ep])) as typeof Ort;
    const key = `${options.model}/${options.ep}`;
    let sessions = stockSessions.get(key);
    if (sessions === undefined) {
      sessions = stockGraphs(ort, options);
      stockSessions.set(key, sessions);
    }
    const graphs = await sessions;
    const input = new ort.Tensor('float32', ecg, [ecg.length / (12 * N_STEPS), 12, N_STEPS]);
    const ms: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      const t0 = performance.now();
      if (graphs.length === 2) await uncachedDecode(ort, graphs, input);
      else await (await graphs[0]!.run({ ecg: input })).tmp!.getData();
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

  state(id) {
    const r = reconstructor(id);
    return { backend: r.backend, fallbackReason: r.fallbackReason, progress: [...(events.get(id) ?? [])] };
  },
};

(globalThis as unknown as HarnessGlobal).harness = harness;
