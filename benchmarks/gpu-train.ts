/**
 * The WebGPU measurement: our WGSL kernels (packages/trainer/src/webgpu/) against the same models on stock
 * tfjs ops, side by side in one process on whatever adapter Dawn finds — SwiftShader on the CPU machines,
 * the NVIDIA card on the lent GPU machine. Sides alternate in blocks so drifting load hits both alike.
 *
 *   tsx benchmarks/gpu-train.ts train   [batch=32] [seconds=20] [models=squeezenet1d,cnn-lstm,transformer] [steps=500]
 *   tsx benchmarks/gpu-train.ts kernels [batch=32] [seconds=20] [length=490] [steps=500]
 *
 *   train    the trainer's whole step (trainStep: forward, loss, gradients, Adam; random data of `steps`
 *            time steps, 500 in the paper; fewer only to try it out on SwiftShader)
 *            with our kernels ('ours') and with ECG_TMP_WEBGPU_KERNELS=stock ('stock': attention as
 *            chunked tfjs ops, the LSTM as per-step tfjs ops); samples/s and the ratio.
 *   kernels  the two fused ops alone, forward + backward: attention at [batch, length, 75] (causal) and the
 *            LSTM recurrence at [batch, steps, 4·64]; ms per call and the ratio.
 * `seconds` is each side's total, split over 4 alternating blocks after one warm-up call each.
 *
 * Writes benchmarks/results/gpu-<mode>-<adapter>-<date>.json (the adapter named in every record) and
 * prints it. On the GPU machine (see docs/performance.md, step 5):
 *   bash ../shared/gpu/pack.sh benchmarks/gpu-train.ts
 *   device tool: command "bash .gpu/run.sh .gpu/gpu-train.mjs train 64 60", carry [".gpu"]
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Architecture } from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../packages/trainer/src/backend.ts';
import type { Batch } from '../packages/trainer/src/batches.ts';
import type { TrainConfig } from '../packages/trainer/src/config.ts';
import { DEFAULTS, preset } from '../packages/trainer/src/config.ts';
import { attention } from '../packages/trainer/src/models/attention.ts';
import { lstmSteps } from '../packages/trainer/src/models/cnn-lstm.ts';
import { createModel } from '../packages/trainer/src/models/index.ts';
import { Adam, trainStep } from '../packages/trainer/src/train.ts';
import { webgpuLstmSequence } from '../packages/trainer/src/webgpu/lstm.ts';
import { kernelRuns } from '../packages/trainer/src/webgpu/program.ts';

const BLOCKS = 4;
const SIDES = ['ours', 'stock'] as const;
type Side = (typeof SIDES)[number];

const [mode = 'train', batchText = '32', secondsText = '20', extra, stepsText = '500'] =
  process.argv.slice(2);
const batch = Number(batchText);
const seconds = Number(secondsText);
if (!['train', 'kernels'].includes(mode) || !(batch > 0) || !(seconds > 0)) {
  process.stderr.write('usage: gpu-train.ts <train|kernels> [batch] [seconds] [models | length] [steps]\n');
  process.exit(2);
}

/** Selects a side: the models read ECG_TMP_WEBGPU_KERNELS at every call. */
function use(side: Side): void {
  if (side === 'stock') process.env.ECG_TMP_WEBGPU_KERNELS = 'stock';
  else delete process.env.ECG_TMP_WEBGPU_KERNELS;
}

/**
 * Times `run` (one call, awaited to completion) for each side in alternating blocks after a warm-up.
 * Returns the calls per second of each side.
 */
async function alternate(run: Record<Side, () => Promise<void>>): Promise<Record<Side, number>> {
  const calls: Record<Side, number> = { ours: 0, stock: 0 };
  const ms: Record<Side, number> = { ours: 0, stock: 0 };
  for (const side of SIDES) {
    use(side);
    await run[side]();
  }
  for (let block = 0; block < BLOCKS; block++) {
    for (const side of SIDES) {
      use(side);
      const t0 = performance.now();
      do {
        await run[side]();
        calls[side]++;
      } while (performance.now() - t0 < (seconds * 1000) / BLOCKS);
      ms[side] += performance.now() - t0;
    }
  }
  use('ours');
  return { ours: (calls.ours * 1000) / ms.ours, stock: (calls.stock * 1000) / ms.stock };
}

async function trainRecords(device: string): Promise<object[]> {
  const models = (extra ?? 'squeezenet1d,cnn-lstm,transformer').split(',') as Architecture[];
  const out: object[] = [];
  for (const model of models) {
    const config = { ...DEFAULTS, ...preset(model), model, out: '/dev/null' } as TrainConfig;
    const nets = { ours: createModel(model, 1), stock: createModel(model, 1) };
    const adams = { ours: new Adam(nets.ours, config), stock: new Adam(nets.stock, config) };
    const series = Number(stepsText);
    const steps = nets.ours.inputSteps === 'all' ? series : nets.ours.inputSteps;
    const ecg = new Float32Array(batch * steps * 12).map(() => Math.random() - 0.5);
    const vm = new Float32Array(batch * series * 75).map(() => Math.random() * 0.5);
    const data: Batch = {
      ecg: { data: ecg, shape: [batch, steps, 12] },
      vm: { data: vm, shape: [batch, series, 75] },
    };
    let step = 0;
    const side = (s: Side) => async () => {
      await trainStep(nets[s], adams[s], data, config, step++, config.lr);
    };
    const before = { ...kernelRuns };
    const rate = await alternate({ ours: side('ours'), stock: side('stock') });
    const fused = Object.keys(kernelRuns).filter((k) => kernelRuns[k] !== before[k]);
    out.push({
      model,
      backend: 'webgpu',
      device,
      batch,
      timeSteps: series,
      oursSamplesPerSec: rate.ours * batch,
      stockTfjsSamplesPerSec: rate.stock * batch,
      ratio: rate.ours / rate.stock,
      pytorchSamplesPerSec: null,
      notes: `stock: our model on tfjs ops (ECG_TMP_WEBGPU_KERNELS=stock); WGSL programs run: ${fused.join(', ') || 'none'}`,
    });
    process.stderr.write(`${JSON.stringify(out.at(-1))}\n`);
  }
  return out;
}

async function kernelRecords(device: string): Promise<object[]> {
  const length = Number(extra ?? 490);
  const steps = Number(stepsText);
  const out: object[] = [];
  // Each call: forward + backward of Σ w ∘ op(inputs), read back as one number so the GPU work is inside.
  const timed = async (
    name: string,
    shape: string,
    make: () => tf.Tensor[],
    op: (...x: tf.Tensor[]) => tf.Tensor,
  ) => {
    const inputs = make();
    const w = tf.randomNormal(op(...inputs).shape);
    const once = async () => {
      const total = tf.tidy(() => {
        const grads = tf.grads((...x: tf.Tensor[]) => tf.sum(tf.mul(op(...x), w)))(inputs);
        return tf.addN(grads.map((g) => tf.sum(g)));
      });
      await total.data();
      total.dispose();
    };
    const rate = await alternate({ ours: once, stock: once });
    tf.dispose([...inputs, w]);
    out.push({
      kernel: name,
      shape,
      backend: 'webgpu',
      device,
      oursMsPerCall: 1000 / rate.ours,
      stockMsPerCall: 1000 / rate.stock,
      ratio: rate.ours / rate.stock,
    });
    process.stderr.write(`${JSON.stringify(out.at(-1))}\n`);
  };
  await timed(
    'attention (causal, width-1 heads), forward + backward',
    `q, k, v [${batch}, ${length}, 75]`,
    () => [0, 1, 2].map(() => tf.randomNormal([batch, length, 75])),
    (q, k, v) => attention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, { causal: true }),
  );
  await timed(
    'LSTM recurrence (H 64), forward + backward',
    `projected [${batch}, ${steps}, 256], W_hh [64, 256]`,
    () => [tf.randomNormal([batch, steps, 256]), tf.randomUniform([64, 256], -0.125, 0.125)],
    // The stock side is the per-step recurrence the CNN-LSTM used on webgpu before the WGSL kernel.
    (p, w) =>
      process.env.ECG_TMP_WEBGPU_KERNELS === 'stock'
        ? lstmSteps(p as tf.Tensor3D, w as tf.Tensor2D)
        : webgpuLstmSequence(p as tf.Tensor3D, w as tf.Tensor2D),
  );
  return out;
}

const info = await startBackend('webgpu');
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
const records = (mode === 'train' ? await trainRecords(info.device) : await kernelRecords(info.device)).map(
  (r) => ({
    ...r,
    machine: { ...machine, date: new Date().toISOString() },
  }),
);
const slug = info.device
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '-')
  .replace(/^-|-$/g, '');
const file = `benchmarks/results/gpu-${mode}-${slug}-${new Date().toISOString().slice(0, 10)}.json`;
mkdirSync('benchmarks/results', { recursive: true });
writeFileSync(file, `${JSON.stringify(records, null, 2)}\n`);
process.stdout.write(`${JSON.stringify({ file, records })}\n`);
