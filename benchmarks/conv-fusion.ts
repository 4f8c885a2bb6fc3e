/**
 * Step 3 of docs/performance.md, side by side in one process: the trainer's own training step (forward,
 * loss, gradients, Adam) on wasm at batch 32 with the tfjs-op convolutions (ECG_TMP_CONV=ops: pad +
 * slices + concat + matMul, BatchNorm and max-pooling as tfjs ops) and with the fused ops of
 * packages/trainer/src/gemm/ (conv1d.ts, maxpool.ts), alternating in blocks on the same model and batch.
 * The switch is read at every call, so one process, one set of weights and one warm heap serve both.
 *
 *   npx tsx benchmarks/conv-fusion.ts <squeezenet1d|cnn-lstm> [blocks] [steps per block]
 *
 * Reports per block wall-clock samples/s and the process's CPU time per sample (all threads: load from
 * other processes inflates it far less than wall time), with the load average; appends the run to
 * benchmarks/results/conv-fusion.json.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import type { Architecture } from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../packages/trainer/src/backend.ts';
import { DEFAULTS, preset, type TrainConfig } from '../packages/trainer/src/config.ts';
import { createModel } from '../packages/trainer/src/models/index.ts';
import { Adam, trainStep } from '../packages/trainer/src/train.ts';

const [model = 'squeezenet1d', blocksText = '2', stepsText = '2'] = process.argv.slice(2) as [Architecture?];
const batch = 32;
const blocks = Number(blocksText);
const stepsPerBlock = Number(stepsText);

const info = await startBackend('wasm');
const config = { ...DEFAULTS, ...preset(model), model, out: '/dev/null' } as TrainConfig;
const net = createModel(model, 1);
const adam = new Adam(net, config);
const tensor = async (shape: [number, number, number]) => ({
  data: (await tf.randomNormal(shape, 0, 1, 'float32', 1).data()) as Float32Array,
  shape,
});
const data = { ecg: await tensor([batch, 500, 12]), vm: await tensor([batch, 500, 75]) };
let step = 0;
const run = () => trainStep(net, adam, data, config, step++, config.lr);

interface Block {
  readonly mode: 'ops' | 'fused';
  readonly samplesPerSec: number;
  readonly cpuMsPerSample: number;
  readonly load: number;
}
const rows: Block[] = [];
// A warm-up step of each kind: first-touch memory and the engine's workers are not what is measured.
for (const mode of ['ops', 'fused'] as const) {
  process.env.ECG_TMP_CONV = mode;
  await run();
}
for (let b = 0; b < blocks; b++) {
  for (const mode of ['ops', 'fused'] as const) {
    process.env.ECG_TMP_CONV = mode;
    const wall0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let s = 0; s < stepsPerBlock; s++) await run();
    const seconds = (performance.now() - wall0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const row = {
      mode,
      samplesPerSec: (stepsPerBlock * batch) / seconds,
      cpuMsPerSample: (cpu.user + cpu.system) / 1000 / (stepsPerBlock * batch),
      load: loadavg()[0]!,
    };
    rows.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
}

const file = new URL('results/conv-fusion.json', import.meta.url);
const runs = await readFile(file, 'utf8').then(
  (text) => JSON.parse(text) as unknown[],
  (): unknown[] => [],
);
runs.push({
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
  device: info.device,
  model,
  batch,
  stepsPerBlock,
  blocks: rows,
});
await writeFile(file, `${JSON.stringify(runs, null, 2)}\n`);
