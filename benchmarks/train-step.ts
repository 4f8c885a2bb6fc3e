/**
 * One side of `npm run bench:train`, in its own process (a tfjs backend per process):
 *
 *   tsx benchmarks/train-step.ts <ours|stock> <backend> <model> <batch> <seconds>
 *
 * `ours` times the trainer's own step (trainStep: forward, loss, gradients, Adam) on random data;
 * `stock` the same architecture written with tf.layers and trained with model.trainOnBatch — what a
 * TensorFlow.js user gets without our models. One warm-up step, then steps until `seconds` have passed
 * (at least one). Prints one JSON line: { samplesPerSec, steps } or { error }.
 */

import type { Architecture } from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, startBackend } from '../packages/trainer/src/backend.ts';
import { DEFAULTS, preset, type TrainConfig } from '../packages/trainer/src/config.ts';
import { createModel } from '../packages/trainer/src/models/index.ts';
import { Adam, trainStep } from '../packages/trainer/src/train.ts';

const [side, backend, model, batchText, secondsText] = process.argv.slice(2) as [
  string,
  BackendName,
  Architecture,
  string,
  string,
];
const batch = Number(batchText);
const budgetMs = Number(secondsText) * 1000;

/** The stock tf.layers version of the two architectures tf.layers can express (no attention layer). */
function stockModel(arch: Architecture): tf.LayersModel | null {
  if (arch === 'transformer') return null;
  const input = tf.input({ shape: [500, 12] });
  let h: tf.SymbolicTensor;
  if (arch === 'cnn-lstm') {
    h = input;
    for (const filters of [64, 128, 256]) {
      h = tf.layers.conv1d({ filters, kernelSize: 3, padding: 'same' }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
      h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
    }
    h = tf.layers.lstm({ units: 64, returnSequences: true }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 75 }) }).apply(h) as tf.SymbolicTensor;
  } else {
    const conv = (x: tf.SymbolicTensor, filters: number, k: number, relu = true) =>
      tf.layers
        .conv1d({ filters, kernelSize: k, padding: 'same', activation: relu ? 'relu' : 'linear' })
        .apply(x) as tf.SymbolicTensor;
    const pool = (x: tf.SymbolicTensor) =>
      tf.layers.maxPooling1d({ poolSize: 3, strides: 1, padding: 'same' }).apply(x) as tf.SymbolicTensor;
    const fire = (x: tf.SymbolicTensor, s: number, e: number) => {
      const sq = conv(x, s, 1);
      return tf.layers.concatenate().apply([conv(sq, e, 1), conv(sq, e, 3)]) as tf.SymbolicTensor;
    };
    h = pool(conv(input, 64, 3));
    h = pool(fire(fire(h, 16, 64), 16, 64));
    h = pool(fire(fire(h, 32, 128), 32, 128));
    h = fire(fire(fire(fire(h, 48, 192), 48, 192), 64, 256), 64, 256);
    h = conv(h, 75, 1, false);
  }
  const m = tf.model({ inputs: input, outputs: h });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  return m;
}

async function timeSteps(step: () => Promise<void>): Promise<{ samplesPerSec: number; steps: number }> {
  await step();
  const t0 = performance.now();
  let steps = 0;
  do {
    await step();
    steps++;
  } while (performance.now() - t0 < budgetMs);
  return { samplesPerSec: (steps * batch * 1000) / (performance.now() - t0), steps };
}

try {
  const info = await startBackend(backend);
  const x = tf.randomNormal([batch, 500, 12]);
  const y = tf.randomNormal([batch, 500, 75]);
  let result: { samplesPerSec: number; steps: number } | null;
  if (side === 'ours') {
    const config = { ...DEFAULTS, ...preset(model), model, out: '/dev/null' } as TrainConfig;
    const net = createModel(model, 1);
    const adam = new Adam(net, config);
    const steps = net.inputSteps === 'all' ? 500 : net.inputSteps;
    const ecg = {
      data: (await tf.slice(x, [0, 0, 0], [batch, steps, 12]).data()) as Float32Array,
      shape: [batch, steps, 12] as [number, number, number],
    };
    const b = {
      ecg,
      vm: { data: (await y.data()) as Float32Array, shape: [batch, 500, 75] as [number, number, number] },
    };
    let s = 0;
    result = await timeSteps(async () => {
      await trainStep(net, adam, b, config, s++, config.lr);
    });
  } else {
    const m = stockModel(model);
    result = m === null ? null : await timeSteps(async () => void (await m.trainOnBatch(x, y)));
  }
  process.stdout.write(
    `${JSON.stringify(result === null ? { error: 'not expressible in tf.layers' } : { ...result, device: info.device })}\n`,
  );
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: (err as Error).message.split('\n')[0] })}\n`);
}
