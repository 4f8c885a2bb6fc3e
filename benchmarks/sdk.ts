/**
 * `npm run bench:sdk` — the browser SDK's latency per reconstruction (B = 1) for each default model on
 * each backend, beside stock onnxruntime-web running the plain graphs in the same run, and what a first
 * visit downloads:
 *   - in headless Chromium (the built bundle, the page and edge of packages/client-sdk/test/browser/):
 *     WebGPU, WASM with the SDK's default threads, WASM on one thread;
 *   - in Node: WASM (one thread, as the SDK runs outside a cross-origin isolated page);
 *   - stock = stock.ts: default session options, outputs back on the CPU; for the Transformer the
 *     decoder-step graph fed the whole growing prefix with an empty cache (no key/value cache), as
 *     benchmarks/onnx-inference.ts's uncached decode;
 *   - SDK and stock alternate in blocks of BLOCK runs, after their warm-ups, so drift in this shared
 *     machine's load hits both alike; each cell is the median;
 *   - first visit: the weights from the edge's manifests (fp32 vs fp16) and the runtime files (SDK
 *     bundle, ORT's module, worker and .wasm) raw, gzip and brotli.
 * WebGPU here is SwiftShader (Vulkan on the CPU): those rows show that the path works and what it costs
 * on a machine without a GPU, nothing about a real GPU.
 *
 *   npm run bench:sdk -- [--runs 50] [--gpu-transformer-runs 3] [--uncached-runs 5] [--gpu-uncached-runs 1]
 *                        [--models cnn-lstm,transformer] [--backends wasm]
 *
 * Writes benchmarks/results/sdk.{md,json}; a run narrowed with --models or --backends (to look at one
 * thing quickly) prints its table and writes nothing.
 */

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { type Manifest, N_LEADS, N_STEPS, parseManifest, prepareEcg } from '@ecg-tmp/core';
import type { Page } from 'playwright-core';
import { BUNDLE } from '../packages/client-sdk/scripts/build.ts';
import { call, type Harness, startHarness } from '../packages/client-sdk/test/browser/harness.ts';
import { ORT_DIST } from '../packages/client-sdk/test/browser/server.ts';
import { openStock, runStock } from '../packages/client-sdk/test/browser/stock.ts';

// Defaults: ≥ 50 timed runs wherever a run takes under a few seconds here. A Transformer run on
// SwiftShader takes minutes, and the uncached decode is ~25× the cached one, so those get fewer.
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    'gpu-transformer-runs': { type: 'string', default: '3' },
    'uncached-runs': { type: 'string', default: '5' },
    'gpu-uncached-runs': { type: 'string', default: '1' },
    models: { type: 'string' },
    backends: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const GPU_TRANSFORMER_RUNS = Number(values['gpu-transformer-runs']);
const UNCACHED_RUNS = Number(values['uncached-runs']);
const GPU_UNCACHED_RUNS = Number(values['gpu-uncached-runs']);
const WARMUP = 3; // the first run compiles shaders / plans memory; the next two settle the allocator
const BLOCK = 10;
const ALL_MODELS = ['cnn', 'cnn-lstm', 'transformer'] as const;
type Model = (typeof ALL_MODELS)[number];
const listArg = <T extends string>(arg: string | undefined, all: readonly T[], what: string): T[] => {
  if (arg === undefined) return [...all];
  const picked = arg.split(',').map((x) => x.trim());
  const unknown = picked.filter((x) => !all.includes(x as T));
  if (unknown.length > 0)
    throw new Error(`--${what}: unknown ${unknown.join(', ')} (choose from ${all.join(', ')})`);
  return picked as T[];
};
const MODELS = listArg(values.models, ALL_MODELS, 'models');
const BACKEND_KINDS = ['webgpu', 'wasm', 'node'] as const;
const KINDS = listArg(values.backends, BACKEND_KINDS, 'backends');
const NARROWED = values.models !== undefined || values.backends !== undefined;
const TARGETS_MS: Partial<Record<Model, number>> = { 'cnn-lstm': 5, transformer: 200 };

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (line: string) => console.error(`bench:sdk: ${line}`);
const median = (xs: readonly number[]) =>
  xs.length === 0 ? Number.NaN : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** A cell: '—' where nothing was measured (0 runs asked). */
const ms1 = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(1));
const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

/** A raw ECG in mV: the first held-out ECG of the edge's test fixtures. */
const ecg = new Float32Array(
  (await readFile(join(root, 'packages/edge-api/test/fixtures/ecg.bin'))).buffer.slice(0),
).slice(0, N_LEADS * N_STEPS);
const signal = { data: ecg, shape: [1, N_LEADS, N_STEPS] as [number, number, number] };

interface Row {
  model: Model;
  backend: string;
  sdkMs: number;
  sdkRuns: number;
  stockMs: number;
  stockRuns: number;
}

type Timer = (runs: number) => Promise<readonly number[]>;

/** Warms both up, then alternates them in blocks until each has its runs; returns all timings. */
async function sideBySide(
  sdk: Timer,
  sdkRuns: number,
  stock: Timer,
  stockRuns: number,
  warmup: number,
): Promise<{ sdk: number[]; stock: number[] }> {
  await sdk(warmup);
  if (stockRuns > 0) await stock(warmup);
  const out = { sdk: [] as number[], stock: [] as number[] };
  while (out.sdk.length < sdkRuns || out.stock.length < stockRuns) {
    if (out.sdk.length < sdkRuns) out.sdk.push(...(await sdk(Math.min(BLOCK, sdkRuns - out.sdk.length))));
    if (out.stock.length < stockRuns)
      out.stock.push(...(await stock(Math.min(BLOCK, stockRuns - out.stock.length))));
  }
  return out;
}

async function manifestOf(edgeUrl: string, model: Model): Promise<Manifest> {
  return parseManifest(await (await fetch(`${edgeUrl}/v1/models/${model}/versions/stable`)).json());
}

const BROWSER_BACKENDS = [
  { label: 'webgpu (SwiftShader)', device: 'webgpu', ep: 'webgpu' },
  { label: 'wasm (browser, SDK default threads)', device: 'wasm', ep: 'wasm' },
  { label: 'wasm (browser, 1 thread)', device: 'wasm', ep: 'wasm', numThreads: 1 },
] as const;

async function browserRows(
  h: Harness,
  manifests: Record<Model, Manifest>,
  ep: 'webgpu' | 'wasm',
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const backend of BROWSER_BACKENDS) {
    if (backend.ep !== ep || !KINDS.includes(backend.ep)) continue;
    // One page per backend: ORT reads its thread count once per page.
    const page: Page = await h.openPage(await h.newContext());
    for (const model of MODELS) {
      const gpuTransformer = backend.ep === 'webgpu' && model === 'transformer';
      const opened = await call(page, 'open', {
        model,
        device: backend.device,
        edgeUrl: h.edge.url,
        cache: 'none',
        ...('numThreads' in backend ? { numThreads: backend.numThreads } : {}),
      });
      if (opened.backend !== backend.device) throw new Error(`${model} opened on ${opened.backend}`);
      const normalised = prepareEcg(signal, {
        limitedTime: false,
        method: manifests[model].normalisation.ecg,
        architecture: manifests[model].architecture,
      });
      const sdkRuns = gpuTransformer ? GPU_TRANSFORMER_RUNS : RUNS;
      const stockRuns =
        model !== 'transformer' ? RUNS : backend.ep === 'webgpu' ? GPU_UNCACHED_RUNS : UNCACHED_RUNS;
      log(`${model} on ${backend.label}: ${sdkRuns} SDK runs, ${stockRuns} stock runs`);
      const t = await sideBySide(
        async (runs) => (await call(page, 'run', opened.id, ecg, runs)).ms,
        sdkRuns,
        async (runs) =>
          (await call(page, 'stock', { model, ep: backend.ep, edgeUrl: h.edge.url, runs }, normalised.data))
            .ms,
        stockRuns,
        model === 'transformer' ? 1 : WARMUP,
      );
      await call(page, 'dispose', opened.id);
      rows.push(row(model, backend.label, t));
    }
    await page.close();
  }
  return rows;
}

/**
 * The part of the SDK's API the Node rows use. They load the built bundle, the artefact the browser
 * rows run, rather than src/: its DOM-typed sources are outside this tsconfig's lib.
 */
interface BundledSdk {
  createReconstructor(options: {
    model: string;
    edgeUrl: string;
    device: 'wasm';
    cache: 'none';
  }): Promise<{ reconstruct(ecg: Float32Array): Promise<unknown>; dispose(): Promise<void> }>;
}

async function nodeRows(edgeUrl: string, manifests: Record<Model, Manifest>): Promise<Row[]> {
  if (!KINDS.includes('node')) return [];
  const sdk = (await import(pathToFileURL(BUNDLE).href)) as BundledSdk;
  const rows: Row[] = [];
  for (const model of MODELS) {
    // The SDK first: it configures the ORT module both share (one thread outside an isolated page).
    const r = await sdk.createReconstructor({ model, edgeUrl, device: 'wasm', cache: 'none' });
    const ort = await import('onnxruntime-web/wasm');
    const stock = await openStock(ort, edgeUrl, model, 'wasm');
    const normalised = prepareEcg(signal, {
      limitedTime: false,
      method: manifests[model].normalisation.ecg,
      architecture: manifests[model].architecture,
    });
    const timed = (fn: () => Promise<unknown>) => async (runs: number) => {
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await fn();
        ms.push(performance.now() - t0);
      }
      return ms;
    };
    log(`${model} on wasm (Node)`);
    const t = await sideBySide(
      timed(() => r.reconstruct(ecg)),
      RUNS,
      timed(() => runStock(ort, stock, normalised.data)),
      model === 'transformer' ? UNCACHED_RUNS : RUNS,
      model === 'transformer' ? 1 : WARMUP,
    );
    await r.dispose();
    for (const s of stock.sessions) await s.release();
    rows.push(row(model, 'wasm (Node, 1 thread)', t));
  }
  return rows;
}

function row(model: Model, backend: string, t: { sdk: number[]; stock: number[] }): Row {
  const r = {
    model,
    backend,
    sdkMs: median(t.sdk),
    sdkRuns: t.sdk.length,
    stockMs: median(t.stock),
    stockRuns: t.stock.length,
  };
  log(`  SDK ${r.sdkMs.toFixed(1)} ms (${r.sdkRuns}), stock ${r.stockMs.toFixed(1)} ms (${r.stockRuns})`);
  return r;
}

/** The runtime files a page loads for each ORT build, raw / gzip / brotli. */
async function runtimeFiles() {
  const files = [
    { what: 'SDK bundle (dist/ecg-tmp-sdk.js)', path: BUNDLE, builds: ['webgpu', 'wasm'] },
    { what: 'ort.webgpu.min.mjs', path: join(ORT_DIST, 'ort.webgpu.min.mjs'), builds: ['webgpu'] },
    {
      what: 'ort-wasm-simd-threaded.asyncify.mjs',
      path: join(ORT_DIST, 'ort-wasm-simd-threaded.asyncify.mjs'),
      builds: ['webgpu'],
    },
    {
      what: 'ort-wasm-simd-threaded.asyncify.wasm',
      path: join(ORT_DIST, 'ort-wasm-simd-threaded.asyncify.wasm'),
      builds: ['webgpu'],
    },
    { what: 'ort.wasm.min.mjs', path: join(ORT_DIST, 'ort.wasm.min.mjs'), builds: ['wasm'] },
    {
      what: 'ort-wasm-simd-threaded.mjs',
      path: join(ORT_DIST, 'ort-wasm-simd-threaded.mjs'),
      builds: ['wasm'],
    },
    {
      what: 'ort-wasm-simd-threaded.wasm',
      path: join(ORT_DIST, 'ort-wasm-simd-threaded.wasm'),
      builds: ['wasm'],
    },
  ];
  return Promise.all(
    files.map(async (f) => {
      const bytes = await readFile(f.path);
      return {
        what: f.what,
        builds: f.builds,
        raw: bytes.length,
        gzip: gzipSync(bytes, { level: 9 }).length,
        brotli: brotliCompressSync(bytes).length,
      };
    }),
  );
}

const loadAtStart = loadavg();
// The machine is shared: the highest 1-minute load average seen during the run goes in the report.
let peakLoad = loadAtStart[0]!;
const loadSampler = setInterval(() => {
  peakLoad = Math.max(peakLoad, loadavg()[0]!);
}, 15_000).unref();
const started = performance.now();
const h = await startHarness({ log });
let rows: Row[];
let adapter: string;
let manifests: Record<Model, Manifest>;
const chromium = h.browser.version();
try {
  manifests = Object.fromEntries(
    await Promise.all(MODELS.map(async (m) => [m, await manifestOf(h.edge.url, m)] as const)),
  ) as Record<Model, Manifest>;
  const probe = await h.openPage(await h.newContext());
  adapter = await probe.evaluate(async () => {
    const gpu = (globalThis as unknown as { navigator: { gpu?: { requestAdapter(): Promise<unknown> } } })
      .navigator.gpu;
    const a = (await gpu?.requestAdapter()) as { info: { vendor: string; architecture: string } } | null;
    return a ? `${a.info.vendor} ${a.info.architecture}` : 'none';
  });
  await probe.close();
  // The WASM rows, which carry the targets, first; then WebGPU on SwiftShader, which takes most of the
  // run (the table keeps WebGPU on top).
  const wasm = await browserRows(h, manifests, 'wasm');
  const node = await nodeRows(h.edge.url, manifests);
  const webgpu = await browserRows(h, manifests, 'webgpu');
  rows = [...webgpu, ...wasm, ...node];
} finally {
  await h.close();
}
clearInterval(loadSampler);
if (NARROWED) {
  for (const r of rows)
    console.log(
      `${r.model} · ${r.backend}: SDK ${r.sdkMs.toFixed(1)} ms (${r.sdkRuns}), stock ${r.stockMs.toFixed(1)} ms (${r.stockRuns})`,
    );
  console.log('(narrowed with --models/--backends: nothing written)');
  process.exit(0);
}
const runtime = await runtimeFiles();

const ort = await import('onnxruntime-web/wasm');
const date = new Date().toISOString();
const machine = {
  cpu: `${availableParallelism()} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  chromium,
  onnxruntimeWeb: ort.env.versions.web,
  webgpu: `${adapter} — SwiftShader, Vulkan on the CPU: no GPU here`,
  loadAverage: { start: loadAtStart, end: loadavg(), peak1m: peakLoad },
};
const weights = MODELS.map((model) => {
  const sum = (dtype: string) =>
    manifests[model].files.filter((f) => f.dtype === dtype).reduce((n, f) => n + f.bytes, 0);
  return { model, fp32: sum('fp32'), fp16: sum('fp16') };
});
const runtimeOf = (build: string, key: 'raw' | 'gzip' | 'brotli') =>
  runtime.filter((f) => f.builds.includes(build)).reduce((n, f) => n + f[key], 0);
const result = {
  date,
  machine,
  runs: {
    default: RUNS,
    gpuTransformer: GPU_TRANSFORMER_RUNS,
    uncached: UNCACHED_RUNS,
    gpuUncached: GPU_UNCACHED_RUNS,
  },
  warmup: WARMUP,
  latency: rows,
  targets: TARGETS_MS,
  firstVisit: { weights, runtime },
  wallS: (performance.now() - started) / 1000,
};
const outDir = join(root, 'benchmarks/results');
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'sdk.json'), `${JSON.stringify(result, null, 2)}\n`);

const targetCell = (r: Row) => {
  const target = TARGETS_MS[r.model];
  if (target === undefined || !r.backend.startsWith('wasm')) return '';
  return `${r.sdkMs <= target ? 'met' : '**not met**'} (≤ ${target} ms)`;
};
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
const md = [
  '# Browser SDK: latency per reconstruction and first-visit bytes (`npm run bench:sdk`)',
  '',
  `${date.slice(0, 10)} · ${machine.cpu} · ${machine.memoryGiB} GiB · Node ${machine.node} · Chromium ${machine.chromium} (headless) · onnxruntime-web ${machine.onnxruntimeWeb} · 1-min load average ${load(machine.loadAverage.start.slice(0, 1))} at start, ${load(machine.loadAverage.end.slice(0, 1))} at the end, ${peakLoad.toFixed(2)} at most · whole run ${(result.wallS / 60).toFixed(0)} min`,
  '',
  `**WebGPU here is SwiftShader** (adapter: ${adapter}): Vulkan emulated on the CPU, because this machine`,
  'has no GPU. Those rows show that the WebGPU path runs and what it costs without a GPU; they say nothing',
  'about a real GPU. The machine is shared with other jobs: where the load average passes its core count',
  'absolute numbers are pessimistic. SDK and stock were measured alternately, in blocks of',
  `${BLOCK} runs, so their ratio is fair either way.`,
  '',
  '## Targets (WASM, B = 1)',
  '',
  '| target | browser, SDK default threads | browser, 1 thread | Node, 1 thread | stock ORT, Node |',
  '| --- | --- | --- | --- | --- |',
  ...Object.entries(TARGETS_MS).map(([model, target]) => {
    const cell = (backend: string, key: 'sdkMs' | 'stockMs' = 'sdkMs') => {
      const r = rows.find((x) => x.model === model && x.backend.startsWith(backend))!;
      const ms = r[key];
      return `${ms.toFixed(1)} ms ${ms <= target ? '(met)' : '(**not met**)'}`;
    };
    return `| ${model} ≤ ${target} ms | ${cell('wasm (browser, SDK')} | ${cell('wasm (browser, 1')} | ${cell('wasm (Node')} | ${model === 'transformer' ? 'uncached: ' : ''}${cell('wasm (Node', 'stockMs')} |`;
  }),
  '',
  "Where the SDK misses a target, compare the stock column: outside the Transformer's cache the SDK adds only",
  "normalisation and a copy; the rest is onnxruntime-web's WASM kernels on this CPU.",
  '',
  'Where the time goes (ORT profiles on this machine, idle, 1 thread, 2026-11-25):',
  '',
  '- **CNN-LSTM**: ~106 M multiply-adds per ECG (conv 128→256 49 M, LSTM input projection 33 M, recurrence',
  '  8 M, the rest 16 M) = 212 MFLOP. Of 8.3 ms, the last conv takes 3.7 ms and the LSTM 3.1 ms: MLAS runs',
  '  them at ~27 GFLOPS. Even a tuned WebAssembly SIMD GEMM (43.7 GFLOPS on one thread here,',
  '  ../shared/reference-measurements.md) needs 4.9 ms for 212 MFLOP, so ≤ 5 ms needs threads that scale;',
  "  onnxruntime-web's gave 8.1 → 7.0 ms from 1 to 2 threads here (the LSTM recurrence is sequential).",
  '- **Transformer**: width-1 heads make attention mostly exponentials: 75 heads × 10 new tokens × the keys',
  '  so far × 4 layers ≈ 38 M softmax entries per 500-step decode, each a Mul, an Add (mask), an exp and a',
  '  MatMul pass in separate ORT kernels. Reading the grown key/value cache back out of the wasm heap every',
  '  step had cost as much again in Chromium (429 ms → 232 ms per decode, idle, 2 threads, once the',
  '  graph returned only the added rows, transformer 0.1.1 and core `growCache`).',
  '',
  '## Latency per reconstruction',
  '',
  `B = 1, the first held-out ECG of the edge's test fixtures, fp32 weights. Median of the runs shown after`,
  `${WARMUP} warm-up runs (1 for the Transformer). SDK = \`createReconstructor(...).reconstruct(ecg)\` from raw mV`,
  'to mV (normalisation included); stock = onnxruntime-web with default session options on the normalised',
  'ECG, outputs back on the CPU; for the Transformer, stock is the decoder-step graph fed the whole growing',
  'prefix with an empty cache (no key/value cache), so the ratio there is mostly the cache. The browser rows',
  'run the built bundle in the page of packages/client-sdk/test/browser/ (cross-origin isolated, so the',
  "SDK's default is min(4, cores) = 2 WASM threads here); the Node rows run the same bundle, on 1 thread.",
  `Fewer runs where one run takes minutes: the Transformer on SwiftShader (${GPU_TRANSFORMER_RUNS} SDK, ${GPU_UNCACHED_RUNS === 0 ? 'no stock run: its uncached decode took 519 s per run there, so `--gpu-uncached-runs 0` skips it' : `${GPU_UNCACHED_RUNS} stock`}) and the`,
  `uncached stock decode on WASM (${UNCACHED_RUNS}).`,
  '',
  '| model | backend | SDK (ms) | runs | stock ORT (ms) | runs | stock / SDK | target |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.model} | ${r.backend} | ${ms1(r.sdkMs)} | ${r.sdkRuns} | ${ms1(r.stockMs)} | ${r.stockRuns} | ${Number.isNaN(r.stockMs) ? '—' : (r.stockMs / r.sdkMs).toFixed(2)} | ${targetCell(r)} |`,
  ),
  '',
  '## What a first visit downloads',
  '',
  "Weights, from the edge's manifests (what `dtype` selects; cached by digest after the first visit):",
  '',
  '| model | fp32 (MB) | fp16 (MB) | fp16 / fp32 |',
  '| --- | --- | --- | --- |',
  ...weights.map((w) => `| ${w.model} | ${mb(w.fp32)} | ${mb(w.fp16)} | ${(w.fp16 / w.fp32).toFixed(2)} |`),
  '',
  'Runtime files (the app serves them; ONNX weights hardly compress, these do). A WebGPU-capable visitor on',
  "`device: 'auto'` loads only the WebGPU build, a WASM-only one only the WASM build:",
  '',
  '| file | build | raw (MB) | gzip (MB) | brotli (MB) |',
  '| --- | --- | --- | --- | --- |',
  ...runtime.map(
    (f) => `| ${f.what} | ${f.builds.join(', ')} | ${mb(f.raw)} | ${mb(f.gzip)} | ${mb(f.brotli)} |`,
  ),
  `| **total, WebGPU build** | | ${mb(runtimeOf('webgpu', 'raw'))} | ${mb(runtimeOf('webgpu', 'gzip'))} | ${mb(runtimeOf('webgpu', 'brotli'))} |`,
  `| **total, WASM build** | | ${mb(runtimeOf('wasm', 'raw'))} | ${mb(runtimeOf('wasm', 'gzip'))} | ${mb(runtimeOf('wasm', 'brotli'))} |`,
  '',
  `First visit on WebGPU with the runtime served brotli-compressed: ${weights
    .map(
      (w) =>
        `${w.model} ${mb(runtimeOf('webgpu', 'brotli') + w.fp32)} MB (fp32) / ${mb(runtimeOf('webgpu', 'brotli') + w.fp16)} MB (fp16)`,
    )
    .join(', ')}.`,
  'A later visit downloads the manifest only (the weights come from Cache Storage; the runtime from the HTTP cache if the app serves it cacheable).',
  '',
].join('\n');
await writeFile(join(outDir, 'sdk.md'), md);
console.log(md);
