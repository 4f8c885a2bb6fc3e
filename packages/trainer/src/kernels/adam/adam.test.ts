import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../backend.ts';
import { readCheckpoint, writeCheckpoint } from '../../checkpoint.ts';
import { DEFAULTS, preset, type TrainConfig } from '../../config.ts';
import { createModel, type Model, PARAMETER_COUNTS } from '../../models/index.ts';
import { Adam } from '../../train.ts';
import { ADAM_WASM, assembleAdam } from './build.ts';

const config = { ...DEFAULTS, ...preset('cnn-lstm'), model: 'cnn-lstm', out: '/dev/null' } as TrainConfig;

/**
 * Gradients for every trainable parameter of `model`, drawn from `seed`; `spread` sets their size so a
 * step clips (global norm above config.gradClip = 1) or does not. (tfjs takes seed 0 as "no seed".)
 */
function gradients(model: Model, seed: number, spread: number): Map<string, tf.Tensor> {
  return new Map(
    model.params.trainable.map((p, i) => [
      p.name,
      tf.randomNormal([...p.shape], 0, spread, 'float32', seed * 1000 + i + 1),
    ]),
  );
}

async function params(model: Model): Promise<Map<string, Float32Array>> {
  return model.params.read();
}

/** Largest |a − b| over all arrays of two maps with the same keys. */
function maxDiff(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): number {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let worst = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    expect(y.length, name).toBe(x.length);
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  }
  return worst;
}

/** Runs `steps` Adam steps (step numbers from `from`) with the seeded gradients; alternately clipping. */
function run(adam: Adam, model: Model, from: number, steps: number): void {
  for (let s = from; s < from + steps; s++) {
    const grads = gradients(model, s, s % 2 === 0 ? 1e-2 : 1e-5);
    adam.apply(grads, 1e-3 * (1 + s / 10), s + 1);
    tf.dispose([...grads.values()]);
  }
}

let dir: string;
beforeAll(async () => {
  await startBackend('wasm');
  await import('@tensorflow/tfjs-backend-cpu');
  dir = await mkdtemp(join(tmpdir(), 'adam-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(['cpu', 'wasm'] as const)('fused Adam on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  it('equals the tfjs-op Adam over six steps (clipped and not, a changing lr) on all 213,835 CNN-LSTM parameters', async () => {
    const [a, b] = [createModel('cnn-lstm', 3), createModel('cnn-lstm', 3)];
    expect(a.params.countTrainable()).toBe(PARAMETER_COUNTS['cnn-lstm']);
    const fused = new Adam(a, config, { fused: true });
    const ops = new Adam(b, config, { fused: false });
    run(fused, a, 0, 6);
    run(ops, b, 0, 6);
    const [pa, pb] = [await params(a), await params(b)];
    // The parameters moved (the comparison is not of two untouched models).
    const initial = await params(createModel('cnn-lstm', 3));
    expect(maxDiff(pa, initial)).toBeGreaterThan(1e-3);
    expect(maxDiff(pa, pb)).toBeLessThan(1e-6);
    expect(maxDiff(await fused.read(), await ops.read())).toBeLessThan(1e-6);
    fused.dispose();
    ops.dispose();
  });

  it('is bit-identical to the tfjs-op Adam without clipping', async () => {
    const noClip = { ...config, gradClip: 0 };
    const [a, b] = [createModel('cnn-lstm', 4), createModel('cnn-lstm', 4)];
    const fused = new Adam(a, noClip, { fused: true });
    const ops = new Adam(b, noClip, { fused: false });
    run(fused, a, 0, 3);
    run(ops, b, 0, 3);
    expect(maxDiff(await params(a), await params(b))).toBe(0);
    expect(maxDiff(await fused.read(), await ops.read())).toBe(0);
    fused.dispose();
    ops.dispose();
  });

  it('resumes from checkpoint.bin as if never stopped, and shares its format with the tfjs-op Adam', async () => {
    const straight = createModel('cnn-lstm', 5);
    const straightAdam = new Adam(straight, config, { fused: true });
    run(straightAdam, straight, 0, 4);

    const first = createModel('cnn-lstm', 5);
    const firstAdam = new Adam(first, config, { fused: true });
    run(firstAdam, first, 0, 2);
    const path = join(dir, `checkpoint-${backend}.bin`);
    const arrays = new Map(await params(first));
    for (const [name, a] of await firstAdam.read()) arrays.set(name, a);
    await writeCheckpoint(path, { step: 2 }, arrays);
    const restored = await readCheckpoint<{ step: number }>(path);

    // Resumed by the fused Adam and by the tfjs-op one: both continue to the same place.
    for (const fused of [true, false]) {
      const resumed = createModel('cnn-lstm', 9);
      resumed.params.write(new Map([...restored.arrays].filter(([n]) => !n.startsWith('adam.'))));
      const adam = new Adam(resumed, config, { fused });
      adam.write(restored.arrays);
      run(adam, resumed, 2, 2);
      expect(maxDiff(await params(resumed), await params(straight)), `fused ${fused}`).toBeLessThan(1e-6);
      expect(maxDiff(await adam.read(), await straightAdam.read()), `fused ${fused}`).toBeLessThan(1e-6);
      adam.dispose();
    }
    straightAdam.dispose();
    firstAdam.dispose();
  });

  it('rejects a checkpoint that lacks a moment, leaving its state as it was', async () => {
    const model = createModel('cnn-lstm', 6);
    const adam = new Adam(model, config, { fused: true });
    run(adam, model, 0, 1);
    const before = await adam.read();
    const broken = new Map([...before].map(([n, a]) => [n, new Float32Array(a.length).fill(7)]));
    const lost = [...broken.keys()].find((n) => n.startsWith('adam.v.'))!;
    broken.delete(lost);
    expect(() => adam.write(broken)).toThrow(`checkpoint lacks ${lost}`);
    expect(maxDiff(await adam.read(), before)).toBe(0);
    adam.dispose();
  });

  it('leaks no tensors', () => {
    const model = createModel('cnn-lstm', 7);
    const adam = new Adam(model, config, { fused: true });
    const before = tf.memory().numTensors;
    run(adam, model, 0, 2);
    expect(tf.memory().numTensors).toBe(before);
    adam.dispose();
  });
});

describe('adam.wasm', () => {
  it('equals a fresh build of kernels/adam/wat.ts', async () => {
    const committed = await readFile(new URL(ADAM_WASM, import.meta.url));
    const fresh = await assembleAdam();
    expect(Buffer.compare(committed, fresh), `${ADAM_WASM} is stale: run src/kernels/adam/build.ts`).toBe(0);
  });
});
