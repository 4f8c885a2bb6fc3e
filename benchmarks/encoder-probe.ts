/**
 * @module
 * What the Transformer's decoder can know of the ECG. Every decoder step attends to the encoder memory,
 * and the encoder reads only segment 0 — the input layer's prediction of TMP steps 0–9, trained to match
 * them (mostly the resting potential). So the first 10 ms of ECG reach the decoder only through 75 × 10
 * numbers fitted to a nearly flat target. This probe asks how much of the TMP those numbers still tell,
 * with the learner of `npm run bench:linear-probe`: the mean normalised TMP of the k training pairs whose
 * features are nearest (Euclidean, each feature z-scored on the training split; k picked on the first
 * --val-limit validation pairs), scored on the test split (pooled R², activation-time MAE), for three
 * features of the same pairs:
 *
 *   ecg        the first 10 ECG steps as the model reads them (each lead ÷ its range), 120 numbers
 *   segment0   the run's input layer output for them, [10, 75]
 *   memory     the run's encoder memory over segment 0, [10, 75]: what cross-attention reads
 *
 * If k-NN on segment 0 or the memory falls well below k-NN on the ECG itself, the information is lost
 * before the decoder, whatever the decoder does.
 *
 *   npm run bench:encoder-probe -- [--run models/trained/transformer] [--data <cache>] [--val-limit 400]
 * Writes benchmarks/results/encoder-probe-<run>.json.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  activationTimes,
  denormaliseVm,
  MetricsAccumulator,
  N_LEADS,
  N_SITES,
  N_STEPS,
  normaliseVm,
} from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../packages/trainer/src/backend.ts';
import { ecgInput } from '../packages/trainer/src/batches.ts';
import { type CacheSplit, loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { activationStats, splitBatch } from '../packages/trainer/src/evaluate.ts';
import { ROOT } from '../packages/trainer/src/synthetic.ts';
import { loadRunModel, resolveDataset } from '../packages/trainer/src/train.ts';
import { nearestNeighbours, zScorer } from './neighbours.ts';

const FIRST = 10;
const OUT = N_SITES * N_STEPS;
const FEATURES = ['ecg', 'segment0', 'memory'] as const;
type Feature = (typeof FEATURES)[number];

const { values } = parseArgs({
  options: {
    run: { type: 'string', default: 'models/trained/transformer' },
    data: { type: 'string' },
    'val-limit': { type: 'string', default: '400' },
  },
});
const runDir = resolve(values.run!);
const valLimit = Number(values['val-limit']);
if (!Number.isSafeInteger(valLimit) || valLimit < 1) throw new Error(`--val-limit: a positive integer`);

await startBackend('wasm');
const { model, state } = await loadRunModel(runDir);
if (model.encode === undefined)
  throw new Error(`${runDir} is a ${state.config.model}, not a Transformer run`);
const dir = values.data ? resolve(values.data) : await resolveDataset(state.config);
const index = await readCacheIndex(dir);
const split = (name: 'train' | 'val' | 'test') => loadCacheSplit(dir, index, name);

/** Each pair's three feature vectors, [count, width] per feature. */
async function featuresOf(s: CacheSplit, count: number): Promise<Record<Feature, Float32Array>> {
  const width = { ecg: N_LEADS * FIRST, segment0: FIRST * N_SITES, memory: FIRST * N_SITES };
  const out = {
    ecg: new Float32Array(count * width.ecg),
    segment0: new Float32Array(count * width.segment0),
    memory: new Float32Array(count * width.memory),
  };
  const batch = 256;
  for (let from = 0; from < count; from += batch) {
    const to = Math.min(count, from + batch);
    const x = ecgInput(splitBatch(s, from, to).ecg, 'limited', FIRST);
    out.ecg.set(x.data, from * width.ecg);
    const [segment0, memory] = tf.tidy(() => {
      const e = model.encode!(tf.tensor3d(x.data, x.shape));
      return [e.segment0, e.memory];
    });
    out.segment0.set(await segment0!.data(), from * width.segment0);
    out.memory.set(await memory!.data(), from * width.memory);
    tf.dispose([segment0!, memory!]);
  }
  return out;
}

const targets = (s: CacheSplit, i: number) =>
  normaliseVm({ data: s.vm.subarray(i * OUT, (i + 1) * OUT), shape: [1, N_SITES, N_STEPS] }, 'vm-affine')
    .data;

/** For each query, the 64 nearest training indices, nearest first. */
const neighbours = (bank: Float32Array, queries: Float32Array, width: number): Int32Array[] =>
  nearestNeighbours(bank, queries, width, 64).map((n) => n.index);

function score(train: CacheSplit, s: CacheSplit, near: Int32Array[], k: number, timing: boolean) {
  const acc = new MetricsAccumulator();
  const y = new Float32Array(OUT);
  const at = new Int32Array(near.length * N_SITES);
  const ap = new Int32Array(near.length * N_SITES);
  near.forEach((nn, q) => {
    y.fill(0);
    for (const i of nn.subarray(0, k)) {
      const t = targets(train, i);
      for (let o = 0; o < OUT; o++) y[o]! += t[o]! / k;
    }
    acc.add(targets(s, q), y);
    if (!timing) return;
    at.set(
      activationTimes({ data: s.vm.subarray(q * OUT, (q + 1) * OUT), shape: [1, N_SITES, N_STEPS] }),
      q * N_SITES,
    );
    ap.set(
      activationTimes(denormaliseVm({ data: y, shape: [1, N_SITES, N_STEPS] }, 'vm-affine')),
      q * N_SITES,
    );
  });
  return timing
    ? { r2: acc.result().r2, activationMaeMs: activationStats(at, ap).maeMs }
    : { r2: acc.result().r2 };
}

const [train, val, test] = [await split('train'), await split('val'), await split('test')];
const nVal = Math.min(valLimit, val.count);
process.stderr.write(
  `encoder probe: ${runDir} (step ${state.step}) on ${dir}: ${train.count} train / ${nVal} val / ${test.count} test\n`,
);
const t0 = performance.now();
const [fTrain, fVal, fTest] = [
  await featuresOf(train, train.count),
  await featuresOf(val, nVal),
  await featuresOf(test, test.count),
];
process.stderr.write(`features in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
const results: Record<string, unknown> = {};
for (const feature of FEATURES) {
  const width = fTrain[feature].length / train.count;
  const z = zScorer(fTrain[feature], width);
  const bank = z(fTrain[feature]);
  const ks = [4, 16, 64];
  const nearVal = neighbours(bank, z(fVal[feature]), width);
  let best = { k: ks[0]!, r2: Number.NEGATIVE_INFINITY };
  for (const k of ks) {
    const { r2 } = score(train, val, nearVal, k, false);
    if (r2 > best.r2) best = { k, r2 };
  }
  const testScore = score(train, test, neighbours(bank, z(fTest[feature]), width), best.k, true);
  results[feature] = { width, k: best.k, valR2: best.r2, test: testScore };
  process.stderr.write(
    `${feature} (${width} numbers): k = ${best.k}, test R² ${testScore.r2.toFixed(4)}, activation MAE ${testScore.activationMaeMs?.toFixed(1)} ms\n`,
  );
}
const outDir = join(ROOT, 'benchmarks/results');
await mkdir(outDir, { recursive: true });
const file = join(outDir, `encoder-probe-${basename(runDir)}.json`);
await writeFile(
  file,
  `${JSON.stringify({ run: basename(runDir), step: state.step, data: basename(dir), split: { train: train.count, val: nVal, test: test.count }, results, time: new Date().toISOString() }, null, 2)}\n`,
);
process.stderr.write(`wrote ${file}\n`);
model.dispose();
