/**
 * The GEMM under tfjs (installed by startBackend('wasm')): products, fused products and the gradients
 * of a small conv + linear model equal tfjs-backend-cpu's, and one gradient equals finite differences.
 */

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { conv1d, linear } from '../models/layers.ts';

/** Runs f on a backend and returns its outputs as plain arrays. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(() => [f()].flat());
  const values = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  await tf.setBackend('wasm');
  return values;
}

function expectClose(got: Float32Array[], want: Float32Array[], tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    const w = want[i]!;
    expect(g.length).toBe(w.length);
    let scale = 1e-6;
    for (const v of w) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j]! - w[j]!));
    expect(worst / scale, `output ${i}`).toBeLessThan(tol);
  });
}

const rand = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);

let device = '';
beforeAll(async () => {
  ({ device } = await startBackend('wasm'));
});

describe('BatchMatMul and _FusedMatMul on wasm run our GEMM and equal tfjs-cpu', () => {
  it('is installed', () => {
    expect(device).toMatch(/wasm SIMD GEMM, \d threads?/);
  });

  const cases: [string, number[], number[], boolean, boolean][] = [
    ['2-D', [33, 7], [7, 127], false, false],
    ['transposeA', [7, 33], [7, 9], true, false],
    ['transposeB', [1, 65], [3, 65], false, true],
    ['both transposed', [129, 17], [31, 129], true, true],
    ['batched', [3, 8, 40], [3, 40, 6], false, false],
    ['batch broadcast of B', [4, 2, 13, 5], [5, 11], false, false],
    ['batch broadcast of A', [13, 5], [2, 3, 5, 11], false, false],
    ['two broadcast batch axes (stock fallback)', [2, 1, 4, 5], [1, 3, 5, 6], false, false],
    ['large enough for both threads', [600, 96], [96, 70], false, false],
  ];
  it.each(cases)('%s: [%s]·[%s]', async (_, sa, sb, ta, tb) => {
    const f = () => tf.matMul(rand(sa, 1), rand(sb, 2), ta, tb);
    expectClose(await on('wasm', f), await on('cpu', f));
  });

  it('fused: bias and ReLU in the GEMM, other activations through the stock kernel', async () => {
    for (const activation of ['linear', 'relu', 'elu'] as const) {
      const f = () =>
        tf.fused.matMul({ a: rand([37, 20], 3), b: rand([20, 9], 4), bias: rand([9], 5), activation });
      expectClose(await on('wasm', f), await on('cpu', f));
    }
    const scalarBias = () =>
      tf.fused.matMul({ a: rand([5, 20], 3), b: rand([20, 9], 4), bias: tf.scalar(0.5) });
    expectClose(await on('wasm', scalarBias), await on('cpu', scalarBias));
  });

  it('gradients of a conv + ReLU + linear model equal tfjs-cpu', async () => {
    const f = () => {
      const x = rand([2, 30, 12], 6) as tf.Tensor3D;
      const weight = rand([3 * 12, 16], 7);
      const bias = rand([16], 8);
      const head = rand([16, 5], 9);
      const target = rand([2, 30, 5], 10);
      const loss = (w: tf.Tensor, b: tf.Tensor, h: tf.Tensor) => {
        const conv = { kernel: 3, weight: w as tf.Variable, bias: b as tf.Variable };
        const y = linear(tf.relu(conv1d(x, conv)), h, tf.zeros([5]));
        return tf.mean(tf.square(tf.sub(y, target))) as tf.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(loss)([weight, bias, head]);
      return [value, ...grads];
    };
    expectClose(await on('wasm', f), await on('cpu', f), 1e-4);
  });

  it('Identity shares data instead of copying it, and a clone outlives its original', () => {
    const x = rand([1000], 14);
    const values = x.dataSync().slice();
    const before = tf.memory().numBytes;
    const y = tf.clone(x);
    // One buffer in the backend, two references to it (the stock wasm Identity copied into a new one).
    expect(y.dataId).toBe(x.dataId);
    expect(tf.memory().numBytes - before).toBe(4000);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual(Array.from(values));
    y.dispose();
  });

  it('Slice (and SplitV, which uses it) equal tfjs-cpu for 1- to 4-D, int32 and empty boxes', async () => {
    const f = () => {
      const x4 = rand([3, 5, 7, 4], 15);
      return [
        tf.slice(rand([10], 16), 3, 5),
        tf.slice(rand([6, 9], 17), [1, 2], [4, -1]),
        tf.slice(rand([4, 30, 12], 18), [0, 2, 0], [4, 20, 12]),
        tf.slice(x4, [1, 0, 3, 1], [2, 5, 3, 2]),
        tf.slice(x4, [0, 2, 0, 0], [3, 0, 7, 4]),
        tf.cast(tf.slice(tf.range(0, 24, 1, 'int32').reshape([2, 3, 4]), [1, 1, 1], [1, 2, 2]), 'float32'),
        ...tf.split(rand([2, 9, 6], 19), [2, 3, 1], 2),
      ];
    };
    // A slice moves values: equal, not close.
    expectClose(await on('wasm', f), await on('cpu', f), 1e-12);
  });

  it('the gradient of a matMul with both operands transposed equals central differences', () => {
    const a = rand([6, 4], 11).arraySync() as number[][];
    const b = rand([5, 6], 12);
    const upstream = rand([4, 5], 13);
    const loss = (x: tf.Tensor) =>
      tf.sum(tf.mul(tf.square(tf.matMul(x, b, true, true)), upstream)) as tf.Scalar;
    const grad = tf.grad(loss)(tf.tensor(a)).arraySync() as number[][];
    const h = 1e-2;
    for (const [i, j] of [
      [0, 0],
      [3, 2],
      [5, 3],
    ] as const) {
      const shifted = (d: number) => {
        const copy = a.map((row) => row.slice());
        copy[i]![j]! += d;
        return loss(tf.tensor(copy)).arraySync();
      };
      const numeric = (shifted(h) - shifted(-h)) / (2 * h);
      expect(Math.abs(grad[i]![j]! - numeric)).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)));
    }
  });
});
