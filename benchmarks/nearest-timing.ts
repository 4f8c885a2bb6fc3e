/**
 * @module
 * How well a committed guess times a site: the activation and repolarisation times of the `nearest`
 * baseline (the TMP of the training pair whose normalised full ECG is nearest in L2: a real trace, no
 * smear) on the first --limit test pairs, beside the pooled R², as `npm run evaluate` scores a model in
 * Exp I. A model whose timing error is mostly a late bias (the CNN-LSTM's ramp reaching 0 mV late) can be
 * set against this scatter-only figure (docs/results.md §9).
 *
 *   npm run bench:nearest-timing -- [--data data/synthetic-d3-s1-n16117-cache] [--limit 400]
 * Writes benchmarks/results/nearest-timing-<set>.json.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  activationTimes,
  denormaliseVm,
  MetricsAccumulator,
  normaliseVm,
  repolarisationTimes,
} from '@ecg-tmp/core';
import { nearestBaseline } from '../packages/trainer/src/baselines.ts';
import { NORMALISATION } from '../packages/trainer/src/batches.ts';
import { loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import {
  activationStats,
  modelInput,
  repolarisationStats,
  splitBatch,
} from '../packages/trainer/src/evaluate.ts';
import { ROOT } from '../packages/trainer/src/synthetic.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: join(ROOT, 'data', 'synthetic-d3-s1-n16117-cache') },
    limit: { type: 'string', default: '400' },
  },
});
const dir = resolve(values.data!);
const limit = Number(values.limit);
if (!Number.isInteger(limit) || limit < 1)
  throw new Error(`--limit must be an integer ≥ 1, got ${values.limit}`);
const index = await readCacheIndex(dir);
const train = await loadCacheSplit(dir, index, 'train');
const test = await loadCacheSplit(dir, index, 'test');
const count = Math.min(limit, test.count);
const predict = nearestBaseline(train, NORMALISATION);
const started = performance.now();
const { ecg, vm } = splitBatch(test, 0, count);
const predicted = await predict(modelInput(ecg, 'full', NORMALISATION.ecg));
const acc = new MetricsAccumulator();
acc.add(normaliseVm(vm, NORMALISATION.tmp).data, predicted.data);
const mv = denormaliseVm(predicted, NORMALISATION.tmp);
const [atTrue, atPred] = [activationTimes(vm), activationTimes(mv)];
const result = {
  learner: 'nearest (full ECG, lead-range, L2; the TMP of one training pair)',
  data: basename(dir),
  split: 'test',
  pairs: count,
  trainPairs: train.count,
  r2: acc.result().r2,
  activation: activationStats(atTrue, atPred),
  repolarisation: repolarisationStats(atTrue, atPred, repolarisationTimes(vm), repolarisationTimes(mv)),
  ms: Math.round(performance.now() - started),
  date: new Date().toISOString(),
};
console.log(JSON.stringify(result, null, 2));
const out = join(
  ROOT,
  'benchmarks',
  'results',
  `nearest-timing-${basename(dir).replace(/-cache$/, '')}.json`,
);
await mkdir(join(ROOT, 'benchmarks', 'results'), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${out}`);
