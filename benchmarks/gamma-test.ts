/**
 * @module
 * How well can anything predict the TMP from a given input? The Gamma test (a near-neighbour estimate of
 * the noise in y = f(x) + noise, Stefánsson, Končar and Jones 1997): for each query point and its k-th
 * nearest training point (k = 1..p), half the mean squared difference of their targets, γ(k), against
 * the mean squared distance of their inputs, δ(k); the line through the p points (δ(k), γ(k)) meets
 * δ = 0 at Γ, the variance no function of x can remove. As pooled R², the most any model reading x can
 * reach is 1 − Γ / Var(y) (Var pooled over every test value, as `npm run evaluate` pools R²), and
 * 1 − γ(1) / Var(y) is a lower estimate of the same (γ(1) ≥ Γ whenever targets differ more at larger distance).
 *
 * `--target activation` asks the same of the activation times (ms; each site's 0 mV crossing, over the
 * sites that activate in both pairs): √Γ is the least root-mean-square timing error any model reading x
 * can have, and for a Gaussian spread the least mean absolute error is about 0.8 √Γ.
 *
 * --train-limit N uses the first N training pairs only: an estimate that moves little from a quarter of the
 * bank to all of it does not hinge on how close the nearest neighbours are.
 *
 * Inputs (z-scored per feature on the training split):
 *   first10-lead-range  what the Transformer reads: the trainer's ecgInput (the first 10 ms of the 12 leads,
 *                       zero past 10 ms, each lead ÷ its own range over the 500 ms, so over the 10 ms and 0)
 *   first10-mV          the same 10 ms in mV
 *   activation          the true activation time of each of the 75 sites (0 mV crossing; never: 500 ms) —
 *                       the calibration: `npm run bound` measures by re-simulation what knowing the
 *                       activation exactly allows (R² 0.854 on the default data, 1 with AP fixed)
 *   ecg                 the whole 500 ms ECG, every 4th sample (12 × 125)
 *
 *   npm run bench:gamma-test -- [--data data/synthetic-d3-s1-n16117-cache] [--inputs a,b] [--limit 1612] [--p 10]
 *   → benchmarks/results/gamma-test-<set>.json
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  activationTimes,
  N_LEADS,
  N_SITES,
  N_STEPS,
  NOT_ACTIVATED,
  normaliseVm,
  STEP_MS,
} from '@ecg-tmp/core';
import { ecgInput } from '../packages/trainer/src/batches.ts';
import { type CacheSplit, loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { splitBatch } from '../packages/trainer/src/evaluate.ts';
import { ROOT, syntheticCache } from '../packages/trainer/src/synthetic.ts';
import { nearestNeighbours, zScorer } from './neighbours.ts';

const INPUTS = ['first10-lead-range', 'first10-mV', 'activation', 'ecg'] as const;
type Input = (typeof INPUTS)[number];
const FIRST = 10;
const DOWNSAMPLE = 4;
const OUT = N_SITES * N_STEPS;

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    inputs: { type: 'string', default: INPUTS.join(',') },
    limit: { type: 'string', default: '1612' },
    p: { type: 'string', default: '10' },
    'train-limit': { type: 'string' },
    target: { type: 'string', default: 'tmp' },
  },
});
const inputs = (values.inputs ?? '').split(',') as Input[];
for (const i of inputs)
  if (!(INPUTS as readonly string[]).includes(i))
    throw new Error(`--inputs: ${INPUTS.join(', ')}; got '${i}'`);
const target = values.target;
if (target !== 'tmp' && target !== 'activation')
  throw new Error(`--target: tmp, activation; got '${target}'`);
const limit = Number(values.limit);
const p = Number(values.p);
const trainLimit =
  values['train-limit'] === undefined ? Number.MAX_SAFE_INTEGER : Number(values['train-limit']);
for (const [name, v] of [
  ['limit', limit],
  ['p', p],
  ['train-limit', trainLimit],
] as const)
  if (!Number.isSafeInteger(v) || v < 2) throw new Error(`--${name} must be an integer ≥ 2, got ${v}`);

const dir = values.data
  ? resolve(values.data)
  : await syntheticCache({ count: 16117, seed: 1, dataDir: join(ROOT, 'data') });
const index = await readCacheIndex(dir);
const train = await loadCacheSplit(dir, index, 'train');
// A smaller bank (--train-limit: evenly strided, since the split is stored scenario by scenario) shows how
// far the estimate moves with the sample size.
const bankSize = Math.min(trainLimit, train.count);
const bankPairs = Array.from({ length: bankSize }, (_, i) => Math.floor((i * train.count) / bankSize));
const test = await loadCacheSplit(dir, index, 'test');
const queries = Math.min(limit, test.count);

function width(input: Input): number {
  if (input === 'activation') return N_SITES;
  if (input === 'ecg') return N_LEADS * Math.ceil(N_STEPS / DOWNSAMPLE);
  return N_LEADS * FIRST;
}

/** Sample s's input as features; the first 10 ms lead-range is the trainer's own encoding (ecgInput). */
function features(split: CacheSplit, s: number, input: Input, out: Float32Array): void {
  if (input === 'activation') {
    const vm = split.vm.subarray(s * OUT, (s + 1) * OUT);
    const at = activationTimes({ data: vm, shape: [1, N_SITES, N_STEPS] });
    for (let c = 0; c < N_SITES; c++) out[c] = at[c] === NOT_ACTIVATED ? N_STEPS * STEP_MS : at[c]!;
    return;
  }
  if (input === 'first10-lead-range') {
    out.set(ecgInput(splitBatch(split, s, s + 1).ecg, 'limited', FIRST).data);
    return;
  }
  const base = s * N_LEADS * N_STEPS;
  if (input === 'ecg') {
    const per = Math.ceil(N_STEPS / DOWNSAMPLE);
    for (let c = 0; c < N_LEADS; c++)
      for (let k = 0; k < per; k++) out[c * per + k] = split.ecg[base + c * N_STEPS + k * DOWNSAMPLE]!;
    return;
  }
  for (let c = 0; c < N_LEADS; c++)
    for (let k = 0; k < FIRST; k++) out[c * FIRST + k] = split.ecg[base + c * N_STEPS + k]!;
}

function matrix(split: CacheSplit, pairs: readonly number[], input: Input): Float32Array {
  const w = width(input);
  const out = new Float32Array(pairs.length * w);
  for (const [i, s] of pairs.entries()) features(split, s, input, out.subarray(i * w, (i + 1) * w));
  return out;
}

const targets = (split: CacheSplit, s: number) =>
  normaliseVm({ data: split.vm.subarray(s * OUT, (s + 1) * OUT), shape: [1, N_SITES, N_STEPS] }, 'vm-affine')
    .data;

/** Sample s's activation times (ms), NOT_ACTIVATED where a site never crosses 0 mV. */
const times = (split: CacheSplit, s: number) =>
  activationTimes({ data: split.vm.subarray(s * OUT, (s + 1) * OUT), shape: [1, N_SITES, N_STEPS] });

// The test values' pooled variance (the denominator of pooled R²).
let sum = 0;
let square = 0;
for (let q = 0; q < queries; q++)
  for (const v of targets(test, q)) {
    sum += v;
    square += v * v;
  }
const n = queries * OUT;
const variance = square / n - (sum / n) ** 2;

interface Row {
  input: Input;
  features: number;
  /** δ(k), γ(k) for k = 1..p. */
  delta: number[];
  gamma: number[];
  /** Γ (intercept) and A (slope) of the least-squares line γ = Γ + A δ. */
  intercept: number;
  slope: number;
  /** 1 − Γ / Var: the most a model reading this input can reach (pooled R²). */
  r2Ceiling: number;
  /** 1 − γ(1) / Var: a lower estimate of the same (γ(1) ≥ Γ). */
  r2Floor: number;
  /** --target activation: √Γ and √γ(1), ms. */
  timingRms?: { least: number; nearest: number };
  seconds: number;
}

const rows: Row[] = [];
for (const input of inputs) {
  const started = performance.now();
  const w = width(input);
  const bank = matrix(train, bankPairs, input);
  const asked = matrix(
    test,
    Array.from({ length: queries }, (_, q) => q),
    input,
  );
  const z = zScorer(bank, w);
  const near = nearestNeighbours(z(bank), z(asked), w, p);

  const delta = new Float64Array(p);
  const gamma = new Float64Array(p);
  for (let q = 0; q < queries; q++) {
    const { index, distance } = near[q]!;
    if (target === 'activation') {
      const t = times(test, q);
      index.forEach((i, k) => {
        const tk = times(train, bankPairs[i]!);
        let e = 0;
        let both = 0;
        for (let c = 0; c < N_SITES; c++) {
          if (t[c] === NOT_ACTIVATED || tk[c] === NOT_ACTIVATED) continue;
          e += (t[c]! - tk[c]!) ** 2;
          both++;
        }
        delta[k]! += distance[k]! / w / queries;
        gamma[k]! += both > 0 ? e / both / 2 / queries : 0;
      });
      continue;
    }
    const y = targets(test, q);
    index.forEach((i, k) => {
      const yk = targets(train, bankPairs[i]!);
      let e = 0;
      for (let o = 0; o < OUT; o++) e += (y[o]! - yk[o]!) ** 2;
      delta[k]! += distance[k]! / w / queries;
      gamma[k]! += e / OUT / 2 / queries;
    });
  }
  const md = delta.reduce((a, b) => a + b, 0) / p;
  const mg = gamma.reduce((a, b) => a + b, 0) / p;
  let sxy = 0;
  let sxx = 0;
  for (let k = 0; k < p; k++) {
    sxy += (delta[k]! - md) * (gamma[k]! - mg);
    sxx += (delta[k]! - md) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const intercept = mg - slope * md;
  const row: Row = {
    input,
    features: w,
    delta: [...delta],
    gamma: [...gamma],
    intercept,
    slope,
    r2Ceiling: 1 - intercept / variance,
    r2Floor: 1 - gamma[0]! / variance,
    ...(target === 'activation'
      ? { timingRms: { least: Math.sqrt(Math.max(intercept, 0)), nearest: Math.sqrt(gamma[0]!) } }
      : {}),
    seconds: (performance.now() - started) / 1000,
  };
  rows.push(row);
  if (row.timingRms !== undefined) {
    const { least, nearest } = row.timingRms;
    console.log(
      `${input.padEnd(19)} ${String(w).padStart(5)} features: activation time Γ ${intercept.toFixed(2)} ms² (slope ${slope.toExponential(2)}) → RMS error at least ${least.toFixed(2)} ms (≈ MAE ${(0.8 * least).toFixed(2)} if Gaussian); from γ(1) ${nearest.toFixed(2)} ms (${row.seconds.toFixed(0)} s)`,
    );
    continue;
  }
  console.log(
    `${input.padEnd(19)} ${String(w).padStart(5)} features: Γ ${intercept.toExponential(3)} (γ(1) ${gamma[0]!.toExponential(3)}, slope ${slope.toExponential(2)}) → R² at most ${row.r2Ceiling.toFixed(3)}, surely ${row.r2Floor.toFixed(3)} (${row.seconds.toFixed(0)} s)`,
  );
}

const set = basename(dir).replace(/-cache$/, '');
const suffix =
  (target === 'activation' ? '-activation' : '') +
  (bankSize < train.count ? `-train${bankSize}` : p !== 10 ? `-p${p}` : '');
const out = join(ROOT, 'benchmarks/results', `gamma-test-${set}${suffix}.json`);
await mkdir(join(ROOT, 'benchmarks/results'), { recursive: true });
await writeFile(
  out,
  `${JSON.stringify({ bench: 'gamma-test', data: set, target, testPairs: queries, trainPairs: bankSize, p, variance, rows, date: new Date().toISOString() }, null, 2)}\n`,
);
console.log(`wrote ${out}`);
