/**
 * @module
 * Can a model whose output layer is Linear(k → 75) draw the upstrokes sharply enough? Each 75-site vector
 * such a model predicts lies in a k-dimensional affine subspace of R^75, the same for every sample. The
 * best such subspace for squared error is the mean plus the top k principal directions of the training
 * split's 75-site vectors; this projects the TRUE TMP of test pairs onto it and measures what the
 * projection alone costs: pooled R² and the activation-time error (core's 0 mV crossing, as `npm run
 * evaluate`). If the truth itself, so projected, misses the activation goal, no model with that output
 * layer can meet it.
 *
 *   npm run bench:output-rank                       # the default set, ranks 8…75
 *   npm run bench:output-rank -- --data <cache dir> --train-limit 3000 --test-limit 400 --ranks 32,64
 * Writes benchmarks/results/output-rank-<set>.json. The CNN-LSTM's output layer is Linear(64 → 75).
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { activationTimes, MetricsAccumulator, N_SITES, N_STEPS } from '@ecg-tmp/core';
import { loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { activationStats } from '../packages/trainer/src/evaluate.ts';
import { ROOT, syntheticCache } from '../packages/trainer/src/synthetic.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    'train-limit': { type: 'string', default: '3000' },
    'test-limit': { type: 'string', default: '400' },
    ranks: { type: 'string', default: '8,16,24,32,48,64,75' },
    /** Every STRIDE-th time step of the training pairs enters the covariance (neighbours add little). */
    stride: { type: 'string', default: '2' },
  },
});
const positive = (flag: string, text: string | undefined): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`--${flag} must be a positive integer, got '${text}'`);
  return n;
};
const trainLimit = positive('train-limit', values['train-limit']);
const testLimit = positive('test-limit', values['test-limit']);
const stride = positive('stride', values.stride);
const ranks = (values.ranks ?? '').split(',').map((r) => positive('ranks', r));
for (const r of ranks) if (r > N_SITES) throw new Error(`--ranks: at most ${N_SITES}, got ${r}`);

const dir = values.data
  ? resolve(values.data)
  : await syntheticCache({ count: 16117, seed: 1, dataDir: join(ROOT, 'data') });
const index = await readCacheIndex(dir);
const train = await loadCacheSplit(dir, index, 'train');
const test = await loadCacheSplit(dir, index, 'test');
const nTrain = Math.min(trainLimit, train.count);
const nTest = Math.min(testLimit, test.count);
const PER = N_SITES * N_STEPS;

// Mean and covariance of the 75-site vectors v(t) of the first nTrain training pairs (mV, float64).
const mean = new Float64Array(N_SITES);
const cov = new Float64Array(N_SITES * N_SITES);
let vectors = 0;
const v = new Float64Array(N_SITES);
for (let s = 0; s < nTrain; s++) {
  for (let t = 0; t < N_STEPS; t += stride) {
    for (let i = 0; i < N_SITES; i++) v[i] = train.vm[s * PER + i * N_STEPS + t]!;
    for (let i = 0; i < N_SITES; i++) {
      mean[i]! += v[i]!;
      for (let j = 0; j <= i; j++) cov[i * N_SITES + j]! += v[i]! * v[j]!;
    }
    vectors++;
  }
}
for (let i = 0; i < N_SITES; i++) mean[i]! /= vectors;
for (let i = 0; i < N_SITES; i++) {
  for (let j = 0; j <= i; j++) {
    const c = cov[i * N_SITES + j]! / vectors - mean[i]! * mean[j]!;
    cov[i * N_SITES + j] = c;
    cov[j * N_SITES + i] = c;
  }
}
const { values: eigenvalues, vectors: basis } = symmetricEigen(cov, N_SITES);
const order = [...eigenvalues.keys()].sort((a, b) => eigenvalues[b]! - eigenvalues[a]!);
const total = eigenvalues.reduce((a, b) => a + b, 0);

const truth = { data: test.vm.subarray(0, nTest * PER), shape: [nTest, N_SITES, N_STEPS] as const };
const atTrue = activationTimes(truth);
const results: Record<string, unknown>[] = [];
for (const k of ranks) {
  const directions = order.slice(0, k);
  const projected = new Float32Array(nTest * PER);
  const c = new Float64Array(k);
  for (let s = 0; s < nTest; s++) {
    for (let t = 0; t < N_STEPS; t++) {
      for (let i = 0; i < N_SITES; i++) v[i] = truth.data[s * PER + i * N_STEPS + t]! - mean[i]!;
      directions.forEach((d, n) => {
        let dot = 0;
        for (let i = 0; i < N_SITES; i++) dot += basis[i * N_SITES + d]! * v[i]!;
        c[n] = dot;
      });
      for (let i = 0; i < N_SITES; i++) {
        let x = mean[i]!;
        directions.forEach((d, n) => {
          x += basis[i * N_SITES + d]! * c[n]!;
        });
        projected[s * PER + i * N_STEPS + t] = x;
      }
    }
  }
  const acc = new MetricsAccumulator({ spearman: false });
  acc.add(truth.data, projected);
  const activation = activationStats(atTrue, activationTimes({ data: projected, shape: truth.shape }));
  const explained = directions.reduce((a, d) => a + eigenvalues[d]!, 0) / total;
  results.push({ rank: k, varianceExplained: explained, r2: acc.result().r2, activation });
  process.stderr.write(
    `rank ${k}: variance ${explained.toFixed(5)}, R² ${acc.result().r2.toFixed(4)}, activation MAE ` +
      `${activation.maeMs?.toFixed(2)} ms (bias ${activation.biasMs?.toFixed(2)}), ${activation.notActivated.predicted} sites never cross 0 mV\n`,
  );
}

const set = basename(dir).replace(/-cache$/, '');
const out = join(ROOT, 'benchmarks', 'results', `output-rank-${set}.json`);
await mkdir(join(ROOT, 'benchmarks', 'results'), { recursive: true });
await writeFile(
  out,
  `${JSON.stringify({ set, trainPairs: nTrain, testPairs: nTest, stride, covarianceVectors: vectors, results }, null, 2)}\n`,
);
process.stderr.write(`wrote ${out}\n`);

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major) by cyclic Jacobi rotations: eigenvalues and
 * the eigenvectors as the columns of `vectors` (row-major). n = 75 converges in a few sweeps.
 */
function symmetricEigen(matrix: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i * n + j]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let r = p + 1; r < n; r++) {
        const apr = a[p * n + r]!;
        if (Math.abs(apr) < 1e-300) continue;
        const theta = (a[r * n + r]! - a[p * n + p]!) / (2 * apr);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cos = 1 / Math.sqrt(t * t + 1);
        const sin = t * cos;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akr = a[k * n + r]!;
          a[k * n + p] = cos * akp - sin * akr;
          a[k * n + r] = sin * akp + cos * akr;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const ark = a[r * n + k]!;
          a[p * n + k] = cos * apk - sin * ark;
          a[r * n + k] = sin * apk + cos * ark;
        }
        for (let k = 0; k < n; k++) {
          const qkp = q[k * n + p]!;
          const qkr = q[k * n + r]!;
          q[k * n + p] = cos * qkp - sin * qkr;
          q[k * n + r] = sin * qkp + cos * qkr;
        }
      }
    }
  }
  return { values: Array.from({ length: n }, (_, i) => a[i * n + i]!), vectors: q };
}
