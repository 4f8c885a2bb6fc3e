/**
 * `npm run bench:attention-memory` — the Transformer's memory in one training step (batch 32, 490
 * decoder tokens): peak bytes held by tfjs during the step (sampled inside every attention call), the
 * process's peak resident memory, and what materialising every head's attention map would need.
 *
 *   npm run bench:attention-memory -- [--batch 32] [--backend wasm]
 *
 * Writes benchmarks/results/attention-memory.json.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, startBackend } from '../packages/trainer/src/backend.ts';
import { DEFAULTS, preset, type TrainConfig } from '../packages/trainer/src/config.ts';
import { attentionMemory } from '../packages/trainer/src/models/attention.ts';
import { createModel } from '../packages/trainer/src/models/index.ts';
import { Adam, trainStep } from '../packages/trainer/src/train.ts';

const { values } = parseArgs({
  options: { batch: { type: 'string', default: '32' }, backend: { type: 'string', default: 'wasm' } },
});
const batch = Number(values.batch);
const info = await startBackend(values.backend as BackendName);
const config = {
  ...DEFAULTS,
  ...preset('transformer'),
  model: 'transformer',
  out: '/dev/null',
} as TrainConfig;
const model = createModel('transformer', 1);
const adam = new Adam(model, config);
const ecg = {
  data: new Float32Array(batch * 10 * 12).map(() => Math.random() - 0.5),
  shape: [batch, 10, 12] as [number, number, number],
};
const vm = {
  data: new Float32Array(batch * 500 * 75).map(() => Math.random()),
  shape: [batch, 500, 75] as [number, number, number],
};
const before = tf.memory().numBytes;
attentionMemory.reset();
const t0 = performance.now();
await trainStep(model, adam, { ecg, vm }, config, 0, config.lr);
const seconds = (performance.now() - t0) / 1000;
// Naive attention keeps softmax(QKᵀ) of every head for backward: 4 decoder self-attention maps of
// 490×490 per head, plus the much smaller cross- and encoder maps, in float32.
const naiveMapBytes = batch * 75 * 4 * (490 * 490 + 490 * 10 + 10 * 10) * 4;
const result = {
  batch,
  backend: info.name,
  device: info.device,
  stepSeconds: Number(seconds.toFixed(1)),
  baselineBytes: before,
  peakBytes: attentionMemory.peakBytes,
  peakAboveBaselineMB: Number(((attentionMemory.peakBytes - before) / 2 ** 20).toFixed(1)),
  naiveAttentionMapsMB: Number((naiveMapBytes / 2 ** 20).toFixed(1)),
  // The whole process at its peak (tfjs-wasm's heap, which never shrinks, the kernels' memories, Node):
  // what the machine must have, whatever tfjs counts.
  processPeakMB: Number((process.resourceUsage().maxRSS / 1024).toFixed(0)),
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    date: new Date().toISOString(),
  },
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'results');
await mkdir(dir, { recursive: true });
await writeFile(join(dir, 'attention-memory.json'), `${JSON.stringify(result, null, 2)}\n`);
