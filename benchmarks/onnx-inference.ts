/**
 * `npm run bench:onnx` — the shipped models in onnxruntime-web's WASM build (one thread, as in a Worker),
 * in Node, batch 1:
 *   - latency of each model, fp32 and fp16 weights;
 *   - the Transformer's 500-step reconstruction with the key/value cache (our decoder-step graph, 10 new
 *     tokens a step) against the same graph fed the whole growing prefix with an empty cache (the
 *     uncached decode), measured alternately in one run, with their outputs compared.
 *
 *   npm run bench:onnx -- [--runs 7]
 *
 * Writes benchmarks/results/onnx-inference.{md,json}.
 */

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_MODEL_NAMES,
  TRANSFORMER_IO as io,
  N_LEADS,
  N_SITES,
  N_STEPS,
  parseAliases,
} from '@ecg-tmp/core';
import { readManifestFile } from '@ecg-tmp/core/node';
import * as ort from 'onnxruntime-web/wasm';
import { maxAbsDiff } from '../packages/trainer/src/export/export.ts';
import { openModel, readModelFiles } from '../packages/trainer/src/export/verify.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const runs = Number(values.runs);
const root = fileURLToPath(new URL('..', import.meta.url));
const models = join(root, 'models');
const aliases = parseAliases(JSON.parse(await readFile(join(models, 'aliases.json'), 'utf8')));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ecg = {
  data: new Float32Array(N_LEADS * N_STEPS).map((_, i) => Math.sin(i * 0.05) * 0.4),
  shape: [1, N_LEADS, N_STEPS] as [number, number, number],
};

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const latency: { model: string; dtype: string; ms: number }[] = [];
for (const name of Object.values(DEFAULT_MODEL_NAMES)) {
  const dir = join(models, name, aliases[name]!.stable!);
  for (const dtype of ['fp32', 'fp16'] as const) {
    const { model } = await openModel(dir, dtype);
    await model.predict(ecg); // warm-up: the first run allocates and plans
    const times: number[] = [];
    for (let r = 0; r < runs; r++) times.push(await time(() => model.predict(ecg)));
    latency.push({ model: name, dtype, ms: median(times) });
    console.error(`${name} ${dtype}: ${median(times).toFixed(1)} ms`);
    await model.release();
  }
}

// Cached vs uncached Transformer decode, alternating in one run.
const tdir = join(models, 'transformer', aliases.transformer!.stable!);
const { model: cachedModel } = await openModel(tdir, 'fp32');
const graphs = (await readModelFiles(tdir, await readManifestFile(tdir))).get('fp32')!;
const step = await ort.InferenceSession.create(graphs['decoder-step']!);
const encoder = await ort.InferenceSession.create(graphs.encoder!);

/** The uncached decode: at each step, the whole prefix so far through the decoder with an empty cache. */
async function uncached(): Promise<Float32Array> {
  const enc = await encoder.run({ [io.ecg]: new ort.Tensor('float32', ecg.data, ecg.shape) });
  const empty = new ort.Tensor('float32', new Float32Array(0), [1, 0, N_SITES]);
  const memory = Object.fromEntries(Object.entries(enc).filter(([k]) => k.startsWith('memory_')));
  const out = new Float32Array(N_SITES * N_STEPS);
  const put = (seg: Float32Array, n: number, from: number, at: number) => {
    for (let s = 0; s < N_SITES; s++)
      out.set(seg.subarray(s * n + from, s * n + from + 10), s * N_STEPS + at);
  };
  put(enc[io.segment]!.data as Float32Array, 10, 0, 0);
  for (let k = 1; k < N_STEPS / 10; k++) {
    const prefix = new Float32Array(N_SITES * 10 * k);
    for (let s = 0; s < N_SITES; s++) prefix.set(out.subarray(s * N_STEPS, s * N_STEPS + 10 * k), s * 10 * k);
    const feeds: Record<string, ort.Tensor> = {
      [io.segment]: new ort.Tensor('float32', prefix, [1, N_SITES, 10 * k]),
      ...memory,
    };
    for (let l = 0; l < 4; l++) feeds[io.pastKey(l)] = feeds[io.pastValue(l)] = empty;
    const r = await step.run(feeds);
    put(r[io.nextSegment]!.data as Float32Array, 10 * k, 10 * (k - 1), 10 * k);
  }
  return out;
}

const cachedOut = await cachedModel.predict(ecg);
const uncachedOut = await uncached();
const agreement = maxAbsDiff(cachedOut, { data: uncachedOut, shape: [1, N_SITES, N_STEPS] });
const cachedTimes: number[] = [];
const uncachedTimes: number[] = [];
for (let r = 0; r < Math.max(3, Math.ceil(runs / 2)); r++) {
  cachedTimes.push(await time(() => cachedModel.predict(ecg)));
  uncachedTimes.push(await time(uncached));
}
const cachedMs = median(cachedTimes);
const uncachedMs = median(uncachedTimes);
console.error(
  `transformer decode: cached ${cachedMs.toFixed(0)} ms, uncached ${uncachedMs.toFixed(0)} ms, max |Δ| ${agreement}`,
);

const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.version}, onnxruntime-web ${ort.env.versions.web} (wasm, 1 thread)`;
const date = new Date().toISOString();
const result = {
  date,
  machine,
  runs,
  latency,
  transformerDecode: { cachedMs, uncachedMs, speedup: uncachedMs / cachedMs, maxAbsDiff: agreement },
};
const outDir = join(root, 'benchmarks/results');
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'onnx-inference.json'), `${JSON.stringify(result, null, 2)}\n`);
const md = [
  `# ONNX inference in onnxruntime-web (WASM), batch 1`,
  '',
  `${date.slice(0, 10)} · ${machine} · median of ${runs} runs after a warm-up · \`npm run bench:onnx\``,
  '',
  '| model | fp32 (ms) | fp16 weights (ms) |',
  '| --- | --- | --- |',
  ...Object.values(DEFAULT_MODEL_NAMES).map((name) => {
    const get = (dtype: string) => latency.find((l) => l.model === name && l.dtype === dtype)!.ms.toFixed(1);
    return `| ${name} | ${get('fp32')} | ${get('fp16')} |`;
  }),
  '',
  '## Transformer: 500 steps with and without the key/value cache (same graph, same run)',
  '',
  '| decode | ms | ratio |',
  '| --- | --- | --- |',
  `| cached (10 new tokens a step) | ${cachedMs.toFixed(0)} | 1 |`,
  `| uncached (whole prefix a step) | ${uncachedMs.toFixed(0)} | ${(uncachedMs / cachedMs).toFixed(1)}× slower |`,
  '',
  `The two decodes agree to ${agreement.toExponential(1)} (max |Δ|, normalised scale). Here the cached decode alternates with`,
  'the uncached one, whose large allocations slow it; the table above times it alone. Target: cached ≤ 200 ms.',
  '',
].join('\n');
await writeFile(join(outDir, 'onnx-inference.md'), md);
console.log(md);
