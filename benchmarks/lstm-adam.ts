/**
 * Step 4 of the trainer performance issue, measured side by side in one process on tfjs-wasm:
 *
 *   1. the LSTM recurrence alone at B = 32, T = 500, H = 64, forward + backward — the JavaScript loops
 *      (kernels/lstm/reference.ts) against the WebAssembly SIMD kernels (kernels/lstm/), raw on typed
 *      arrays and as the tfjs op (lstmSequence with tf.grads, inputs and outputs through tfjs's heap);
 *   2. one Adam step over all parameters of the CNN-LSTM (213,835) and the Transformer (824,731) — the
 *      tfjs ops against the fused update (both synchronous on wasm).
 *
 * Blocks alternate (old, new, old, new …) so drifting load hits both; each figure is the median of its
 * repetitions. The load average is recorded with the results.
 *
 *   node --import tsx benchmarks/lstm-adam.ts [repetitions]   → benchmarks/results/lstm-adam.json
 */

import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../packages/trainer/src/backend.ts';
import { DEFAULTS, preset, type TrainConfig } from '../packages/trainer/src/config.ts';
import { createLstmKernels } from '../packages/trainer/src/kernels/lstm/lstm.ts';
import * as reference from '../packages/trainer/src/kernels/lstm/reference.ts';
import { createModel } from '../packages/trainer/src/models/index.ts';
import { lstmSequence, lstmSequenceWith } from '../packages/trainer/src/models/lstm-fused.ts';
import { Adam } from '../packages/trainer/src/train.ts';

const repetitions = Number(process.argv[2] ?? 5);
const [B, T, H] = [32, 500, 64];
const device = (await startBackend('wasm')).device;
const loadBefore = loadavg();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Times each of `cases` `repetitions` times, interleaved; returns the median ms of each. */
function alternate(cases: Record<string, () => void>): Record<string, number> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((n) => [n, []]));
  for (const run of Object.values(cases)) run(); // warm-up
  for (let r = 0; r < repetitions; r++) {
    for (const [name, run] of Object.entries(cases)) {
      const t0 = performance.now();
      run();
      times[name]!.push(performance.now() - t0);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([n, t]) => [n, median(t)]));
}

// 1. The recurrence, raw.
const rand = (n: number, spread: number) =>
  Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * spread);
const projected = rand(B * T * 4 * H, 2);
const weight = rand(H * 4 * H, 1 / Math.sqrt(H));
const dy = rand(B * T * H, 1);
const kernels = createLstmKernels();
const raw = alternate({
  javascript: () => {
    const trace = reference.forward(projected, weight, B, T, H);
    reference.backward(dy, trace);
  },
  wasm: () => {
    const { trace } = kernels.forward({ batch: B, steps: T, units: H }, (d) => d.set(projected), weight);
    kernels.backward(trace, (d) => d.set(dy));
  },
});

// 1b. The recurrence as the tfjs op: forward + gradients, reading and writing tfjs tensors.
const p = tf.tensor3d(projected, [B, T, 4 * H]);
const w = tf.tensor2d(weight, [H, 4 * H]);
const up = tf.tensor3d(dy, [B, T, H]);
const gradsOf = (op: typeof lstmSequence) => () =>
  tf.tidy(() => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(op(a as tf.Tensor3D, b as tf.Tensor2D), up)),
    )([p, w]);
    g[0]!.dataSync();
  });
const op = alternate({ javascript: gradsOf(lstmSequenceWith('javascript')), wasm: gradsOf(lstmSequence) });

// 2. Adam over all parameters of the CNN-LSTM (213,835) and of the Transformer (824,731).
const adam: Record<string, { params: number; ms: Record<string, number> }> = {};
for (const architecture of ['cnn-lstm', 'transformer'] as const) {
  const config = {
    ...DEFAULTS,
    ...preset(architecture),
    model: architecture,
    out: '/dev/null',
  } as TrainConfig;
  const model = createModel(architecture, 1);
  const grads = new Map(
    model.params.trainable.map((q, i) => [q.name, tf.randomNormal([...q.shape], 0, 1e-3, 'float32', i + 1)]),
  );
  const ops = new Adam(model, config, { fused: false });
  const fused = new Adam(model, config, { fused: true });
  let step = 0;
  adam[architecture] = {
    params: model.params.countTrainable(),
    ms: alternate({
      ops: () => ops.apply(grads, 1e-3, ++step),
      fused: () => fused.apply(grads, 1e-3, ++step),
    }),
  };
}

const result = {
  date: new Date().toISOString(),
  device,
  node: process.version,
  repetitions,
  loadAverage: { before: loadBefore, after: loadavg() },
  recurrence: {
    shape: { batch: B, steps: T, units: H },
    gflop: (3 * 2 * B * T * H * 4 * H) / 1e9,
    rawMs: raw,
    tfjsOpMs: op,
  },
  adam,
};
await writeFile(new URL('results/lstm-adam.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result)}\n`);
