/**
 * For the tests of the kernels inside whole models: trains a model a few steps on the cpu backend and then
 * on webgpu from the same seed and batch, counting our kernels' dispatches on each side. Short series (16
 * steps, batch 2) keep it cheap on SwiftShader; the models are length-agnostic.
 */

import type { Architecture } from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import type { Batch } from '../batches.ts';
import { DEFAULTS, preset, type TrainConfig } from '../config.ts';
import { createModel } from '../models/index.ts';
import { Adam, trainStep } from '../train.ts';
import { kernelRuns } from './program.ts';

const [B, T] = [2, 16];

/** A fixed batch: smooth targets from the inputs, so the two runs see the same numbers. */
function batch(inputSteps: number): Batch {
  const ecg = new Float32Array(B * inputSteps * 12).map((_, i) => Math.sin(i * 0.37) * 0.5);
  const vm = new Float32Array(B * T * 75).map((_, i) => Math.tanh(Math.cos(i * 0.11)) * 0.4 + 0.3);
  return { ecg: { data: ecg, shape: [B, inputSteps, 12] }, vm: { data: vm, shape: [B, T, 75] } };
}

async function losses(model: Architecture, steps: number): Promise<number[]> {
  const config = { ...DEFAULTS, ...preset(model), model, out: '/dev/null', seed: 11 } as TrainConfig;
  const net = createModel(config.model, config.seed);
  const adam = new Adam(net, config);
  const data = batch(net.inputSteps === 'all' ? T : net.inputSteps);
  const out: number[] = [];
  for (let s = 0; s < steps; s++) out.push(await trainStep(net, adam, data, config, s, config.lr));
  return out;
}

/** Dispatches so far of the programs whose key starts with `prefix`. */
export function runsOf(prefix: string): number {
  return Object.entries(kernelRuns)
    .filter(([k]) => k.startsWith(prefix))
    .reduce((n, [, v]) => n + v, 0);
}

export interface StepsOnBoth {
  readonly cpu: number[];
  readonly webgpu: number[];
  /** Dispatches of the `prefix` programs during the cpu run and during the webgpu run. */
  readonly runs: { readonly cpu: number; readonly webgpu: number };
  readonly backendDuringWebgpu: string;
}

/** Losses of `steps` training steps on cpu, then on webgpu (the backend the process started). */
export async function stepsOnCpuAndWebgpu(
  model: Architecture,
  prefix: string,
  steps: number,
): Promise<StepsOnBoth> {
  // cpu first: a model may cache constants on the backend that asks first; cpu's can move to webgpu,
  // webgpu's cannot be read back synchronously in Node.
  const start = runsOf(prefix);
  await tf.setBackend('cpu');
  let cpu: number[];
  try {
    cpu = await losses(model, steps);
  } finally {
    await tf.setBackend('webgpu');
  }
  const middle = runsOf(prefix);
  const backendDuringWebgpu = tf.getBackend();
  const webgpu = await losses(model, steps);
  return { cpu, webgpu, runs: { cpu: middle - start, webgpu: runsOf(prefix) - middle }, backendDuringWebgpu };
}

/**
 * The assertions both model tests make: `steps` steps on webgpu equal cpu's losses (1e-4 relative), the
 * kernels named by `kernel` ran on webgpu (at least forward and backward each step) and never on cpu, and
 * with two or more steps the loss falls.
 */
export async function expectWebgpuStepsMatchCpu(
  model: Architecture,
  kernel: string,
  steps: number,
): Promise<void> {
  const r = await stepsOnCpuAndWebgpu(model, kernel, steps);
  expect(r.backendDuringWebgpu).toBe('webgpu');
  expect(tf.getBackend()).toBe('webgpu');
  expect(r.runs.cpu).toBe(0);
  expect(r.runs.webgpu).toBeGreaterThanOrEqual(2 * steps);
  expect(r.webgpu).toHaveLength(steps);
  for (let s = 0; s < steps; s++) {
    expect(Number.isFinite(r.webgpu[s]!)).toBe(true);
    expect(Math.abs(r.webgpu[s]! - r.cpu[s]!) / Math.abs(r.cpu[s]!), `step ${s}`).toBeLessThan(1e-4);
  }
  if (steps > 1) expect(r.webgpu[1]!).toBeLessThan(r.webgpu[0]!);
}
