/**
 * @module
 * The k-NN reference for bench:memory-swap's table: on the same validation pairs, the mean normalised
 * TMP of the k nearest training pairs by the first 10 ms of ECG (as the Transformer reads them, each
 * feature z-scored on the training split; encoder-probe.ts's learner), scored by pooled R² and by its
 * spread across ECGs (core's SpreadAccumulator) — what a lookup that reads the ECG reaches, and how much
 * its output varies, beside a Transformer's.
 *
 *   npm run bench:knn-spread -- [--data data/synthetic-d3-s1-n16117-cache] [--limit 100]
 *   → benchmarks/results/knn-spread.json
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MetricsAccumulator, N_LEADS, N_SITES, N_STEPS, normaliseVm, SpreadAccumulator } from '@ecg-tmp/core';
import { ecgInput } from '../packages/trainer/src/batches.ts';
import { type CacheSplit, loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { splitBatch } from '../packages/trainer/src/evaluate.ts';
import { ROOT } from '../packages/trainer/src/synthetic.ts';
import { nearestNeighbours, zScorer } from './neighbours.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: 'data/synthetic-d3-s1-n16117-cache' },
    limit: { type: 'string', default: '100' },
  },
});
const FIRST = 10;
const OUT = N_SITES * N_STEPS;
const WIDTH = N_LEADS * FIRST;
const index = await readCacheIndex(values.data!);
const train = await loadCacheSplit(values.data!, index, 'train');
const val = await loadCacheSplit(values.data!, index, 'val');
const queries = Math.min(Number(values.limit), val.count);

function features(s: CacheSplit, n: number): Float32Array {
  const out = new Float32Array(n * WIDTH);
  for (let from = 0; from < n; from += 256) {
    const to = Math.min(n, from + 256);
    out.set(ecgInput(splitBatch(s, from, to).ecg, 'limited', FIRST).data, from * WIDTH);
  }
  return out;
}
const bank = features(train, train.count);
const asked = features(val, queries);
const z = zScorer(bank, WIDTH);
const target = (s: CacheSplit, i: number) =>
  normaliseVm({ data: s.vm.subarray(i * OUT, (i + 1) * OUT), shape: [1, N_SITES, N_STEPS] }, 'vm-affine')
    .data;

// Each query's 64 nearest training pairs, nearest first.
const order = nearestNeighbours(z(bank), z(asked), WIDTH, 64).map((n) => n.index);
const rows = [];
for (const k of [4, 16, 64]) {
  const acc = new MetricsAccumulator({ spearman: false });
  const spread = new SpreadAccumulator(OUT);
  for (let q = 0; q < queries; q++) {
    const y = new Float32Array(OUT);
    for (const i of order[q]!.slice(0, k)) {
      const t = target(train, i);
      for (let o = 0; o < OUT; o++) y[o]! += t[o]! / k;
    }
    const t = target(val, q);
    acc.add(t, y);
    spread.add(t, y);
  }
  const s = spread.result();
  const row = {
    k,
    r2: Number(acc.result().r2.toFixed(4)),
    spread: {
      predicted: Number(s.predicted.toPrecision(3)),
      truth: Number(s.truth.toPrecision(3)),
      ratio: Number(s.ratio.toFixed(3)),
    },
  };
  process.stdout.write(`${JSON.stringify(row)}\n`);
  rows.push(row);
}
const out = join(ROOT, 'benchmarks/results');
await mkdir(out, { recursive: true });
await writeFile(
  join(out, 'knn-spread.json'),
  `${JSON.stringify(
    {
      data: values.data,
      split: 'val',
      pairs: queries,
      rows,
      machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      date: new Date().toISOString(),
    },
    null,
    2,
  )}\n`,
);
