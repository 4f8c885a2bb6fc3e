/**
 * Where a Transformer run's error comes from, per 10-step segment: teacher-forced (the decoder reads the
 * true tokens, as in training) against free-running (it reads its own, as at inference), on the same
 * held-out samples. Segment 0 is the SqueezeNet input layer's own prediction of the first 10 ms, the
 * same in both.
 *
 *   npm run bench:segments -- runs/tf [--split test|val] [--limit 64] [--weights best|last] [--out F.json]
 *
 * Prints a table (every 5th segment, and the totals) and writes every segment's MSE and R² to --out.
 */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MetricsAccumulator, N_SITES, N_STEPS } from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../packages/trainer/src/backend.ts';
import { gatherBatch } from '../packages/trainer/src/batches.ts';
import { loadCacheSplit, readCacheIndex } from '../packages/trainer/src/data.ts';
import { ForwardContext } from '../packages/trainer/src/models/layers.ts';
import { SEGMENT } from '../packages/trainer/src/models/transformer.ts';
import { loadRunModel, runDataset } from '../packages/trainer/src/train.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    split: { type: 'string', default: 'test' },
    limit: { type: 'string', default: '64' },
    batch: { type: 'string', default: '16' },
    out: { type: 'string' },
    weights: { type: 'string', default: 'best' },
  },
});
const runDir = positionals[0];
if (runDir === undefined) {
  console.error(
    'usage: npm run bench:segments -- runs/<transformer run> [--split test|val] [--limit N] [--out F]',
  );
  process.exit(2);
}
const split = values.split as 'test' | 'val';
const limit = Number(values.limit);
const batchSize = Number(values.batch);

await startBackend('wasm');
const { model, state } = await loadRunModel(runDir, values.weights === 'last' ? 'last' : 'best');
if (model.architecture !== 'transformer') throw new Error(`${runDir} is a ${model.architecture} run`);
const dataset = await runDataset(state);
const data = await loadCacheSplit(dataset, await readCacheIndex(dataset), split);
const count = Math.min(limit, data.count);
const segments = N_STEPS / SEGMENT;
const acc = { teacher: [] as MetricsAccumulator[], free: [] as MetricsAccumulator[] };
for (let k = 0; k < segments; k++) {
  acc.teacher.push(new MetricsAccumulator({ spearman: false }));
  acc.free.push(new MetricsAccumulator({ spearman: false }));
}
const total = {
  teacher: new MetricsAccumulator({ spearman: false }),
  free: new MetricsAccumulator({ spearman: false }),
};

for (let from = 0; from < count; from += batchSize) {
  const idx = Array.from({ length: Math.min(batchSize, count - from) }, (_, i) => from + i);
  const b = gatherBatch(data, idx, model.inputSteps);
  const [teacher, free] = tf.tidy(() => {
    const ecg = tf.tensor3d(b.ecg.data, b.ecg.shape);
    const vm = tf.tensor3d(b.vm.data, b.vm.shape);
    return [model.trainForward(ecg, vm, ForwardContext.inference()), model.predict(ecg)];
  });
  const out = {
    teacher: (await teacher!.data()) as Float32Array,
    free: (await free!.data()) as Float32Array,
  };
  tf.dispose([teacher!, free!]);
  // Channels-last [n, 500, 75]: segment k of sample i is one contiguous block.
  const block = SEGMENT * N_SITES;
  for (let i = 0; i < idx.length; i++) {
    for (let k = 0; k < segments; k++) {
      const at = i * N_STEPS * N_SITES + k * block;
      const target = b.vm.data.subarray(at, at + block);
      for (const mode of ['teacher', 'free'] as const) {
        const p = out[mode].subarray(at, at + block);
        acc[mode][k]!.add(target, p);
        total[mode].add(target, p);
      }
    }
  }
}

const rows = Array.from({ length: segments }, (_, k) => ({
  segment: k,
  steps: `${k * SEGMENT}–${k * SEGMENT + SEGMENT - 1}`,
  teacherMse: acc.teacher[k]!.result().mse,
  freeMse: acc.free[k]!.result().mse,
  teacherR2: acc.teacher[k]!.result().r2,
  freeR2: acc.free[k]!.result().r2,
}));
const totals = { teacher: total.teacher.result(), free: total.free.result() };
console.log(`${runDir}: ${count} ${split} samples, step ${state.step}`);
console.log('| segment | ms | MSE teacher-forced | MSE free-running | R² teacher-forced | R² free-running |');
console.log('|---|---|---|---|---|---|');
for (const r of rows.filter((r) => r.segment % 5 === 0 || r.segment === 1)) {
  console.log(
    `| ${r.segment} | ${r.steps} | ${r.teacherMse.toFixed(5)} | ${r.freeMse.toFixed(5)} | ${r.teacherR2.toFixed(3)} | ${r.freeR2.toFixed(3)} |`,
  );
}
console.log(
  `| all | 0–499 | ${totals.teacher.mse.toFixed(5)} | ${totals.free.mse.toFixed(5)} | ${totals.teacher.r2.toFixed(4)} | ${totals.free.r2.toFixed(4)} |`,
);
if (values.out !== undefined) {
  await writeFile(
    resolve(values.out),
    `${JSON.stringify({ run: runDir, step: state.step, split, samples: count, date: new Date().toISOString(), totals: { teacherR2: totals.teacher.r2, freeR2: totals.free.r2, teacherMse: totals.teacher.mse, freeMse: totals.free.mse }, segments: rows }, null, 1)}\n`,
  );
}
model.dispose();
