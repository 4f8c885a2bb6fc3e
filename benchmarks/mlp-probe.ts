/**
 * @module
 * How much a flexible learner gets from exactly what the Transformer reads — the first 10 ECG steps, each
 * lead divided by its own range over them (core's prepareEcg, Exp II) — when it is trained straight to
 * the whole TMP: a multilayer perceptron 120 → H → H → 75 × 500 (ReLU; the output bias starts at the
 * training split's mean TMP), mean squared error on the normalised scale, Adam, trained on the training
 * split, the epoch kept by the pooled R² on the first --val-limit validation pairs, scored on the whole
 * test split as `npm run evaluate` scores (pooled R², activation and repolarisation times, spread across
 * ECGs). It is a probe of the data, not a model that ships: with no sequence structure at all, it says
 * what the 10 ms carry for a learner that is not a lookup (k-NN, bench:linear-probe) and not the
 * Transformer's decoder.
 *
 *   npm run bench:mlp-probe                                        # the default set, H 256, up to 30 min
 *   npm run bench:mlp-probe -- --hidden 512 --minutes 60 --data data/synthetic-d3-apfixed-s1-n16117-cache
 * Writes benchmarks/results/mlp-probe-<set>-h<H>.json.
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
  prepareEcg,
  repolarisationTimes,
  SpreadAccumulator,
} from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../packages/trainer/src/backend.ts';
import { type CacheSplit, loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { activationStats, repolarisationStats } from '../packages/trainer/src/evaluate.ts';
import { ROOT, syntheticCache } from '../packages/trainer/src/synthetic.ts';

const FIRST = 10;
const FEATURES = N_LEADS * FIRST;
const OUT = N_SITES * N_STEPS;

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    hidden: { type: 'string', default: '256' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '1e-3' },
    epochs: { type: 'string', default: '40' },
    minutes: { type: 'string', default: '30' },
    patience: { type: 'string', default: '4' },
    'val-limit': { type: 'string', default: '400' },
    seed: { type: 'string', default: '1' },
  },
});
const num = (name: keyof typeof values) => {
  const v = Number(values[name]);
  if (!(v > 0)) throw new Error(`--${name} must be a positive number, got '${values[name]}'`);
  return v;
};
const hidden = num('hidden');
const batch = num('batch');
const lr = num('lr');
const epochs = num('epochs');
const minutes = num('minutes');
const patience = num('patience');
const valLimit = num('val-limit');
const seed = num('seed');

const backend = await startBackend('wasm');
const dir = values.data
  ? resolve(values.data)
  : await syntheticCache({ count: 16117, seed: 1, dataDir: join(ROOT, 'data') });
const index = await readCacheIndex(dir);
const train = await loadCacheSplit(dir, index, 'train');
const val = await loadCacheSplit(dir, index, 'val');
const test = await loadCacheSplit(dir, index, 'test');

/** Samples [from, to) as the Transformer's input features [n, 120]. */
function features(split: CacheSplit, from: number, to: number): Float32Array {
  const n = to - from;
  const ecg = split.ecg.subarray(from * N_LEADS * N_STEPS, to * N_LEADS * N_STEPS);
  const prepared = prepareEcg(
    { data: ecg, shape: [n, N_LEADS, N_STEPS] },
    { limitedTime: true, method: 'lead-range', architecture: 'transformer' },
  ).data;
  const x = new Float32Array(n * FEATURES);
  for (let r = 0; r < n * N_LEADS; r++) x.set(prepared.subarray(r * N_STEPS, r * N_STEPS + FIRST), r * FIRST);
  return x;
}

/** Samples [from, to) as normalised targets [n, 37,500]. */
function targets(split: CacheSplit, from: number, to: number): Float32Array {
  return normaliseVm(
    { data: split.vm.subarray(from * OUT, to * OUT), shape: [to - from, N_SITES, N_STEPS] },
    'vm-affine',
  ).data;
}

// The training split's mean TMP: the output bias's start, so the net begins as the `mean` baseline.
const mean = new Float64Array(OUT);
for (let from = 0; from < train.count; from += 512) {
  const y = targets(train, from, Math.min(train.count, from + 512));
  for (let i = 0; i < y.length; i++) mean[i % OUT]! += y[i]!;
}
for (let i = 0; i < OUT; i++) mean[i]! /= train.count;

const init = (rows: number, cols: number, s: number) =>
  tf.variable(tf.randomNormal([rows, cols], 0, Math.sqrt(2 / rows), 'float32', seed * 10 + s));
const w1 = init(FEATURES, hidden, 1);
const b1 = tf.variable(tf.zeros([hidden]));
const w2 = init(hidden, hidden, 2);
const b2 = tf.variable(tf.zeros([hidden]));
const w3 = tf.variable(tf.zeros([hidden, OUT]));
const b3 = tf.variable(tf.tensor1d(Float32Array.from(mean)));
const params = [w1, b1, w2, b2, w3, b3];
const count = params.reduce((n, p) => n + p.size, 0);
const forward = (x: tf.Tensor2D) =>
  tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2)), w3), b3);
const optimizer = tf.train.adam(lr);

/** Predictions for samples [0, n) of a split, in batches. */
function predictSplit(split: CacheSplit, n: number, sink: (y: Float32Array, p: Float32Array) => void): void {
  for (let from = 0; from < n; from += 256) {
    const to = Math.min(n, from + 256);
    const x = features(split, from, to);
    const y = targets(split, from, to);
    const p = tf.tidy(() => forward(tf.tensor2d(x, [to - from, FEATURES])));
    sink(y, p.dataSync() as Float32Array);
    p.dispose();
  }
}

function r2On(split: CacheSplit, n: number): number {
  const acc = new MetricsAccumulator();
  predictSplit(split, n, (y, p) => acc.add(y, p));
  return acc.result().r2;
}

// A fixed shuffle per epoch from the seed.
let state = seed >>> 0 || 1;
const random = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};

const started = performance.now();
const log: { epoch: number; trainMse: number; valR2: number; seconds: number }[] = [];
let best = { epoch: 0, valR2: Number.NEGATIVE_INFINITY, weights: [] as Float32Array[] };
const order = Array.from({ length: train.count }, (_, i) => i);
const xAll = new Float32Array(train.count * FEATURES);
for (let from = 0; from < train.count; from += 512) {
  const to = Math.min(train.count, from + 512);
  xAll.set(features(train, from, to), from * FEATURES);
}
process.stderr.write(
  `mlp-probe: ${dir}, ${train.count} train / ${valLimit} val / ${test.count} test, ${count.toLocaleString('en')} parameters, on ${backend.name}\n`,
);
for (let epoch = 1; epoch <= epochs; epoch++) {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let sum = 0;
  let steps = 0;
  const x = new Float32Array(batch * FEATURES);
  const y = new Float32Array(batch * OUT);
  for (let from = 0; from + batch <= order.length; from += batch) {
    for (let k = 0; k < batch; k++) {
      const s = order[from + k]!;
      x.set(xAll.subarray(s * FEATURES, (s + 1) * FEATURES), k * FEATURES);
      y.set(targets(train, s, s + 1), k * OUT);
    }
    const loss = optimizer.minimize(
      () => {
        const d = tf.sub(forward(tf.tensor2d(x, [batch, FEATURES])), tf.tensor2d(y, [batch, OUT]));
        return tf.mean(tf.square(d)) as tf.Scalar;
      },
      true,
      params,
    );
    sum += (await loss!.data())[0]!;
    loss!.dispose();
    steps++;
  }
  const valR2 = r2On(val, Math.min(valLimit, val.count));
  const seconds = (performance.now() - started) / 1000;
  log.push({ epoch, trainMse: sum / steps, valR2, seconds });
  process.stderr.write(
    `epoch ${epoch}: train MSE ${(sum / steps).toFixed(5)}, val R² ${valR2.toFixed(4)} (${seconds.toFixed(0)} s)\n`,
  );
  if (valR2 > best.valR2) {
    best = { epoch, valR2, weights: params.map((p) => p.dataSync().slice() as Float32Array) };
  } else if (epoch - best.epoch >= patience) break;
  if (seconds > minutes * 60) break;
}
for (const [i, p] of params.entries()) p.assign(tf.tensor(best.weights[i]!, p.shape));

// The test split, whole, as `npm run evaluate` scores it.
const acc = new MetricsAccumulator();
const spread = new SpreadAccumulator(OUT);
const at = { true: [] as Int32Array[], pred: [] as Int32Array[] };
const rt = { true: [] as Int32Array[], pred: [] as Int32Array[] };
predictSplit(test, test.count, (y, p) => {
  acc.add(y, p);
  spread.add(y, p);
  const n = y.length / OUT;
  const mv = (d: Float32Array) => denormaliseVm({ data: d, shape: [n, N_SITES, N_STEPS] }, 'vm-affine');
  const yt = mv(y);
  const yp = mv(p);
  at.true.push(activationTimes(yt));
  at.pred.push(activationTimes(yp));
  rt.true.push(repolarisationTimes(yt));
  rt.pred.push(repolarisationTimes(yp));
});
const join32 = (parts: Int32Array[]) => {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const atT = join32(at.true);
const atP = join32(at.pred);
const result = {
  probe: 'mlp',
  dataset: dir,
  backend: `${backend.name} (${backend.device})`,
  settings: { hidden, batch, lr, epochs, minutes, patience, valLimit, seed, parameters: count },
  bestEpoch: best.epoch,
  valR2: best.valR2,
  log,
  test: {
    samples: test.count,
    metrics: acc.result(),
    activation: activationStats(atT, atP),
    repolarisation: repolarisationStats(atT, atP, join32(rt.true), join32(rt.pred)),
    spread: spread.result(),
  },
};
const outDir = join(ROOT, 'benchmarks/results');
await mkdir(outDir, { recursive: true });
const file = join(outDir, `mlp-probe-${basename(dir).replace(/-cache$/, '')}-h${hidden}.json`);
await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(
  `test (${test.count}): R² ${result.test.metrics.r2.toFixed(4)}, activation ${result.test.activation.maeMs?.toFixed(1)} ms (bias ${result.test.activation.biasMs?.toFixed(1)}), repolarisation ${result.test.repolarisation.maeMs?.toFixed(1)} ms, spread ${result.test.spread.ratio.toFixed(3)}; wrote ${file}\n`,
);
