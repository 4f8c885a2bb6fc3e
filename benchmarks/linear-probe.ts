/**
 * @module
 * How much the first 10 ms of ECG say about the whole TMP, measured with the simplest learner: ridge
 * regression from the 12 × 10 first ECG samples (+ a constant) to all 75 × 500 normalised TMP values,
 * fitted on the training split, the ridge strength picked on the validation split, scored on the test
 * split (pooled R², as `npm run evaluate`), with the activation- and repolarisation-time errors.
 *
 * A second learner, `--learners knn`: the mean TMP of the k training pairs whose encoded first 10 ms are
 * nearest (k picked on validation) — a non-parametric estimate of E[TMP | first 10 ms] that a linear map
 * cannot be blamed for missing; it uses the whole training split.
 *
 * Three encodings of the same 10 ms, so the cost of the input normalisation is visible:
 *   lead-range   what the Transformer reads (the trainer's ecgInput: zero past 10 ms, each lead divided by its
 *                own range over the window, the paper's normalized_unit: the leads' relative amplitudes are gone)
 *   common-range all 12 leads divided by one range, the largest of the 12 (relative amplitudes kept)
 *   mV           the raw samples
 *
 * A ridge over 121 inputs needs far fewer pairs than the set has: the fit uses the first --train-limit
 * training pairs (default 4,000) and picks λ on the first --val-limit validation pairs (default 400); the
 * test split is scored whole.
 *
 *   npm run bench:linear-probe                                   # the default set (16,117 pairs)
 *   npm run bench:linear-probe -- --data data/synthetic-d3-apfixed-s1-n16117-cache --learners knn --encodings lead-range
 * Writes benchmarks/results/linear-probe-<set>.json.
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
  NOT_ACTIVATED,
  normaliseVm,
  repolarisationTimes,
} from '@ecg-tmp/core';
import { ecgInput } from '../packages/trainer/src/batches.ts';
import { type CacheSplit, loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { activationStats, repolarisationStats, splitBatch } from '../packages/trainer/src/evaluate.ts';
import { ROOT, syntheticCache } from '../packages/trainer/src/synthetic.ts';
import { nearestNeighbours } from './neighbours.ts';

const FIRST = 10;
const FEATURES = N_LEADS * FIRST + 1;
const OUT = N_SITES * N_STEPS;
const ENCODINGS = ['lead-range', 'common-range', 'mV'] as const;
type Encoding = (typeof ENCODINGS)[number];

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    'train-limit': { type: 'string', default: '4000' },
    'val-limit': { type: 'string', default: '400' },
    learners: { type: 'string', default: 'ridge' },
    encodings: { type: 'string', default: ENCODINGS.join(',') },
  },
});
const learners = (values.learners ?? 'ridge').split(',');
for (const l of learners)
  if (l !== 'ridge' && l !== 'knn') throw new Error(`--learners: ridge, knn; got '${l}'`);
const encodings = (values.encodings ?? '').split(',') as Encoding[];
for (const e of encodings) {
  if (!(ENCODINGS as readonly string[]).includes(e))
    throw new Error(`--encodings: ${ENCODINGS.join(', ')}; got '${e}'`);
}
const limits = { train: Number(values['train-limit']), val: Number(values['val-limit']) };
for (const [k, v] of Object.entries(limits)) {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${k}-limit must be a positive integer, got ${v}`);
}
const dir = values.data
  ? resolve(values.data)
  : await syntheticCache({ count: 16117, seed: 1, dataDir: join(ROOT, 'data') });
const index = await readCacheIndex(dir);
const split = (name: 'train' | 'val' | 'test') => loadCacheSplit(dir, index, name);

/**
 * The first 10 ms of sample s as features (+1 for the constant), encoded; lead-range is the trainer's own
 * encoding (ecgInput), the others are kept beside it here.
 */
function features(split: CacheSplit, s: number, encoding: Encoding, out: Float64Array): void {
  out[FEATURES - 1] = 1;
  if (encoding === 'lead-range') {
    out.set(ecgInput(splitBatch(split, s, s + 1).ecg, 'limited', FIRST).data);
    return;
  }
  const base = s * N_LEADS * N_STEPS;
  let common = 0;
  for (let c = 0; c < N_LEADS; c++) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < FIRST; k++) {
      const v = split.ecg[base + c * N_STEPS + k]!;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      out[c * FIRST + k] = v;
    }
    common = Math.max(common, hi - lo);
  }
  if (encoding === 'common-range' && common > 0) for (let f = 0; f < FEATURES - 1; f++) out[f]! /= common;
}

function targets(split: CacheSplit, s: number): Float32Array {
  return normaliseVm(
    { data: split.vm.subarray(s * OUT, (s + 1) * OUT), shape: [1, N_SITES, N_STEPS] },
    'vm-affine',
  ).data;
}

/** Solves (A + λI) W = B for W (A symmetric positive definite, F × F; B F × OUT) by Cholesky. */
function ridgeSolve(a: Float64Array, b: Float64Array, lambda: number): Float64Array {
  const n = FEATURES;
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j]! + (i === j && i < n - 1 ? lambda : 0);
      for (let k = 0; k < j; k++) sum -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = i === j ? Math.sqrt(Math.max(sum, 1e-12)) : sum / l[j * n + j]!;
    }
  }
  const w = new Float64Array(b);
  for (let i = 0; i < n; i++) {
    const row = w.subarray(i * OUT, (i + 1) * OUT);
    for (let k = 0; k < i; k++) {
      const f = l[i * n + k]!;
      const prev = w.subarray(k * OUT, (k + 1) * OUT);
      for (let o = 0; o < OUT; o++) row[o]! -= f * prev[o]!;
    }
    const d = l[i * n + i]!;
    for (let o = 0; o < OUT; o++) row[o]! /= d;
  }
  for (let i = n - 1; i >= 0; i--) {
    const row = w.subarray(i * OUT, (i + 1) * OUT);
    for (let k = i + 1; k < n; k++) {
      const f = l[k * n + i]!;
      const next = w.subarray(k * OUT, (k + 1) * OUT);
      for (let o = 0; o < OUT; o++) row[o]! -= f * next[o]!;
    }
    const d = l[i * n + i]!;
    for (let o = 0; o < OUT; o++) row[o]! /= d;
  }
  return w;
}

function predict(w: Float64Array, x: Float64Array, out: Float32Array): void {
  out.fill(0);
  for (let f = 0; f < FEATURES; f++) {
    const xf = x[f]!;
    if (xf === 0) continue;
    const row = w.subarray(f * OUT, (f + 1) * OUT);
    for (let o = 0; o < OUT; o++) out[o]! += xf * row[o]!;
  }
}

type Learned = (x: Float64Array, out: Float32Array) => void;

function score(learned: Learned, split: CacheSplit, encoding: Encoding, timing: boolean) {
  const acc = new MetricsAccumulator();
  const x = new Float64Array(FEATURES);
  const y = new Float32Array(OUT);
  const sites = timing ? split.count * N_SITES : 0;
  const [at, ap, rt, rp] = [0, 1, 2, 3].map(() => new Int32Array(sites));
  for (let s = 0; s < split.count; s++) {
    features(split, s, encoding, x);
    learned(x, y);
    acc.add(targets(split, s), y);
    if (!timing) continue;
    const truth = { data: split.vm.subarray(s * OUT, (s + 1) * OUT), shape: [1, N_SITES, N_STEPS] as const };
    const mv = denormaliseVm({ data: y, shape: [1, N_SITES, N_STEPS] }, 'vm-affine');
    at!.set(activationTimes(truth), s * N_SITES);
    ap!.set(activationTimes(mv), s * N_SITES);
    rt!.set(repolarisationTimes(truth), s * N_SITES);
    rp!.set(repolarisationTimes(mv), s * N_SITES);
  }
  if (!timing) return { r2: acc.result().r2 };
  // The same counts as `npm run evaluate` (the trainer's activationStats / repolarisationStats).
  let missed = 0;
  for (let i = 0; i < sites; i++) if (at![i] !== NOT_ACTIVATED && ap![i] === NOT_ACTIVATED) missed++;
  return {
    r2: acc.result().r2,
    activationMaeMs: activationStats(at!, ap!).maeMs,
    activatedSitesMissed: missed,
    repolarisationMaeMs: repolarisationStats(at!, ap!, rt!, rp!).maeMs,
  };
}

const limited = (s: CacheSplit, n: number): CacheSplit => ({ ...s, count: Math.min(s.count, n) });
const fullTrain = await split('train');
const [train, val, test] = [
  limited(fullTrain, limits.train),
  limited(await split('val'), limits.val),
  await split('test'),
];
process.stderr.write(
  `probe on ${dir}: ${train.count} train (ridge; knn uses ${fullTrain.count}) / ${val.count} val / ${test.count} test\n`,
);
const results: Record<string, Record<string, unknown>> = {};
const report = (
  learner: string,
  encoding: Encoding,
  chosen: object,
  valR2: number,
  t0: number,
  learned: Learned,
) => {
  const testScore = score(learned, test, encoding, true);
  results[learner] = { ...results[learner], [encoding]: { ...chosen, valR2, test: testScore } };
  process.stderr.write(
    `${learner} ${encoding}: test R² ${testScore.r2.toFixed(4)}, activation MAE ${testScore.activationMaeMs?.toFixed(1)} ms ` +
      `(${testScore.activatedSitesMissed} activated sites missed), repolarisation MAE ${testScore.repolarisationMaeMs?.toFixed(1)} ms ` +
      `(${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
  );
};

for (const encoding of learners.includes('ridge') ? encodings : []) {
  const t0 = performance.now();
  const a = new Float64Array(FEATURES * FEATURES);
  const b = new Float64Array(FEATURES * OUT);
  const x = new Float64Array(FEATURES);
  for (let s = 0; s < train.count; s++) {
    features(train, s, encoding, x);
    const y = targets(train, s);
    for (let i = 0; i < FEATURES; i++) {
      const xi = x[i]!;
      for (let j = 0; j <= i; j++) a[i * FEATURES + j]! += xi * x[j]!;
      const row = b.subarray(i * OUT, (i + 1) * OUT);
      for (let o = 0; o < OUT; o++) row[o]! += xi * y[o]!;
    }
  }
  for (let i = 0; i < FEATURES; i++) for (let j = 0; j < i; j++) a[j * FEATURES + i] = a[i * FEATURES + j]!;
  // The ridge strength relative to the mean diagonal, picked on the validation split.
  let meanDiag = 0;
  for (let i = 0; i < FEATURES - 1; i++) meanDiag += a[i * FEATURES + i]! / (FEATURES - 1);
  let best: { lambda: number; r2: number; w: Float64Array } = {
    lambda: 0,
    r2: Number.NEGATIVE_INFINITY,
    w: new Float64Array(0),
  };
  for (const rel of [1e-4, 1e-2, 1e-1]) {
    const w = ridgeSolve(a, b, rel * meanDiag);
    const { r2 } = score((x, y) => predict(w, x, y), val, encoding, false);
    process.stderr.write(`  ridge ${encoding}: λ = ${rel} × mean diagonal → val R² ${r2.toFixed(4)}\n`);
    if (r2 > best.r2) best = { lambda: rel, r2, w };
  }
  report('ridge', encoding, { lambdaRelative: best.lambda }, best.r2, t0, (x, y) => predict(best.w, x, y));
}

for (const encoding of learners.includes('knn') ? encodings : []) {
  const t0 = performance.now();
  const n = fullTrain.count;
  const width = FEATURES - 1;
  const bank = new Float32Array(n * width);
  const x = new Float64Array(FEATURES);
  for (let s = 0; s < n; s++) {
    features(fullTrain, s, encoding, x);
    bank.set(x.subarray(0, width), s * width);
  }
  const ks = [1, 4, 16, 64];
  /** The mean normalised TMP of the k nearest training pairs (distances on the encoded features as they are). */
  const knn =
    (k: number): Learned =>
    (x, out) => {
      const { index } = nearestNeighbours(bank, Float32Array.from(x.subarray(0, width)), width, k)[0]!;
      out.fill(0);
      for (const s of index) {
        const y = targets(fullTrain, s);
        for (let o = 0; o < OUT; o++) out[o]! += y[o]! / k;
      }
    };
  let best = { k: 1, r2: Number.NEGATIVE_INFINITY };
  for (const k of ks) {
    const { r2 } = score(knn(k), val, encoding, false);
    process.stderr.write(`  knn ${encoding}: k = ${k} → val R² ${r2.toFixed(4)}\n`);
    if (r2 > best.r2) best = { k, r2 };
  }
  report('knn', encoding, { k: best.k }, best.r2, t0, knn(best.k));
}
const outDir = join(ROOT, 'benchmarks/results');
await mkdir(outDir, { recursive: true });
const file = join(outDir, `linear-probe-${learners.join('-')}-${basename(dir).replace(/-cache$/, '')}.json`);
await writeFile(
  file,
  `${JSON.stringify({ data: basename(dir), first: FIRST, split: { train: train.count, val: val.count, test: test.count }, results, time: new Date().toISOString() }, null, 2)}\n`,
);
process.stderr.write(`wrote ${file}\n`);
