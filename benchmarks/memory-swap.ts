/**
 * @module
 * Does the Transformer's decoder read the encoder memory? Each decoder step learns of the ECG through two
 * paths: its first tokens (segment 0, or the start tokens of an `--encoder-input embedding` run) through
 * self-attention, and the encoder memory through cross-attention. This probe decodes held-out pairs
 * free-running twice — as the model runs, and with cross-attention reading the memory of another pair of
 * the same split (pair i takes pair (i + n/2) mod n's) while everything else stays the pair's own — and
 * scores both on the normalised scale:
 *
 *   own      R² of the normal decode against the truth (the free-running R² the trainer logs)
 *   swapped  R² of the decode with the other pair's memory against the truth
 *   donor    R² of that same decode against the other pair's truth (does it follow the memory?)
 *   change   R² of the swapped decode against the normal one (1 = the memory changes nothing)
 * and the activation-time MAE of own and swapped against the truth, and how much the reconstruction
 * varies from ECG to ECG at all: `spread`, the standard deviation across the pairs of each predicted
 * value (normalised), averaged over the 75 × 500 values, against the same of the truth (0 = the same
 * reconstruction for every ECG). A decoder that ignores the memory
 * has change ≈ 1 and swapped ≈ own; one that follows it loses R² when it is swapped and moves towards
 * the donor.
 *
 *   npm run bench:memory-swap -- [--runs models/trained/transformer,models/trained/transformer-embedding]
 *                                [--split val] [--limit 100]
 * Writes benchmarks/results/memory-swap.json.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  activationTimes,
  denormaliseVm,
  MetricsAccumulator,
  N_SITES,
  N_STEPS,
  normaliseVm,
  SpreadAccumulator,
} from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../packages/trainer/src/backend.ts';
import { gatherBatch, toChannelsFirst } from '../packages/trainer/src/batches.ts';
import { loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { activationStats } from '../packages/trainer/src/evaluate.ts';
import { ROOT } from '../packages/trainer/src/synthetic.ts';
import { loadRunModel, resolveDataset } from '../packages/trainer/src/train.ts';

const OUT = N_SITES * N_STEPS;
const tenths = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
const BATCH = 25;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: 'models/trained/transformer,models/trained/transformer-embedding' },
    split: { type: 'string', default: 'val' },
    limit: { type: 'string', default: '100' },
  },
});
const split = values.split as 'val' | 'test';
if (split !== 'val' && split !== 'test') throw new Error(`--split: val or test, got '${values.split}'`);
const limit = Number(values.limit);
if (!Number.isSafeInteger(limit) || limit < 2) throw new Error('--limit: an integer ≥ 2');

await startBackend('wasm');
const results = [];
for (const run of values.runs!.split(',').map((r) => resolve(r))) {
  const { model, state } = await loadRunModel(run);
  if (model.predictWithMemoryOf === undefined)
    throw new Error(`${run} is a ${state.config.model}, not a Transformer run`);
  const dir = await resolveDataset(state.config);
  const s = await loadCacheSplit(dir, await readCacheIndex(dir), split);
  const n = Math.min(limit, s.count);
  const donorOf = (i: number) => (i + Math.floor(n / 2)) % n;
  const truth = (i: number) =>
    normaliseVm({ data: s.vm.subarray(i * OUT, (i + 1) * OUT), shape: [1, N_SITES, N_STEPS] }, 'vm-affine')
      .data;
  // The first 10 ECG steps of pairs `idx`, as the model reads them (the trainer's own batching).
  const input = (idx: number[]) => {
    const { ecg } = gatherBatch(s, idx, 10);
    return tf.tensor3d(ecg.data, ecg.shape);
  };
  const acc = {
    own: new MetricsAccumulator(),
    swapped: new MetricsAccumulator(),
    donor: new MetricsAccumulator(),
    change: new MetricsAccumulator(),
  };
  const at = {
    truth: new Int32Array(n * N_SITES),
    own: new Int32Array(n * N_SITES),
    swapped: new Int32Array(n * N_SITES),
  };
  // The spread of the predictions and of the truth across pairs (core's SpreadAccumulator).
  const spread = new SpreadAccumulator(OUT);
  const t0 = performance.now();
  for (let from = 0; from < n; from += BATCH) {
    const idx = Array.from({ length: Math.min(BATCH, n - from) }, (_, k) => from + k);
    const x = input(idx);
    const donor = input(idx.map(donorOf));
    const own = tf.tidy(() => model.predict(x));
    const swapped = tf.tidy(() => model.predictWithMemoryOf!(x, donor));
    const shape = [idx.length, N_STEPS, N_SITES] as const;
    const o = toChannelsFirst((await own.data()) as Float32Array, shape).data;
    const w = toChannelsFirst((await swapped.data()) as Float32Array, shape).data;
    tf.dispose([x, donor, own, swapped]);
    idx.forEach((i, k) => {
      const oi = o.subarray(k * OUT, (k + 1) * OUT);
      const wi = w.subarray(k * OUT, (k + 1) * OUT);
      const ti = truth(i);
      acc.own.add(ti, oi);
      spread.add(ti, oi);
      acc.swapped.add(ti, wi);
      acc.donor.add(truth(donorOf(i)), wi);
      acc.change.add(oi, wi);
      const times = (y: Float32Array) =>
        activationTimes(denormaliseVm({ data: y, shape: [1, N_SITES, N_STEPS] }, 'vm-affine'));
      at.truth.set(
        activationTimes({ data: s.vm.subarray(i * OUT, (i + 1) * OUT), shape: [1, N_SITES, N_STEPS] }),
        i * N_SITES,
      );
      at.own.set(times(oi), i * N_SITES);
      at.swapped.set(times(wi), i * N_SITES);
    });
  }
  const r2 = (a: MetricsAccumulator) => Math.round(a.result().r2 * 1e4) / 1e4;
  const spreadResult = spread.result();
  const result = {
    run: run.replace(`${ROOT}/`, ''),
    step: state.step,
    encoderInput: state.config.encoderInput ?? 'prediction',
    data: basename(dir),
    split,
    pairs: n,
    r2: { own: r2(acc.own), swapped: r2(acc.swapped), donor: r2(acc.donor), change: r2(acc.change) },
    spread: {
      predicted: Number(spreadResult.predicted.toPrecision(3)),
      truth: Number(spreadResult.truth.toPrecision(3)),
    },
    activationMaeMs: {
      own: tenths(activationStats(at.truth, at.own).maeMs),
      swapped: tenths(activationStats(at.truth, at.swapped).maeMs),
    },
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  process.stderr.write(`${JSON.stringify(result)}\n`);
  results.push(result);
  model.dispose();
}
await mkdir(join(ROOT, 'benchmarks/results'), { recursive: true });
await writeFile(
  join(ROOT, 'benchmarks/results/memory-swap.json'),
  `${JSON.stringify({ time: new Date().toISOString(), results }, null, 2)}\n`,
);
