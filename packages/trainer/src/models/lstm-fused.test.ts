import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { lstmSteps } from './cnn-lstm.ts';
import { lstmSequence } from './lstm-fused.ts';

beforeAll(async () => {
  await startBackend('wasm');
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('lstmSequence (fused recurrence, hand-written BPTT)', () => {
  for (const [b, t, h] of [
    [2, 7, 3],
    [2, 30, 64],
  ] as const) {
    it(`matches the tfjs-ops recurrence and its autograd gradients (B ${b}, T ${t}, H ${h})`, () => {
      tf.tidy(() => {
        // Projections of spread ±2 drive the gates through their non-linear ranges.
        const projected = tf.randomNormal([b, t, 4 * h], 0, 2, 'float32', 1) as tf.Tensor3D;
        const weight = tf.randomUniform(
          [h, 4 * h],
          -1 / Math.sqrt(h),
          1 / Math.sqrt(h),
          'float32',
          2,
        ) as tf.Tensor2D;
        const upstream = tf.randomNormal([b, t, h], 0, 1, 'float32', 3);
        const loss = (run: typeof lstmSequence) => (p: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.mul(run(p as tf.Tensor3D, w as tf.Tensor2D), upstream));
        expect(maxAbsDiff(lstmSequence(projected, weight), lstmSteps(projected, weight))).toBeLessThan(1e-5);
        const fused = tf.grads(loss(lstmSequence))([projected, weight]);
        const reference = tf.grads(loss(lstmSteps))([projected, weight]);
        expect(fused[0]!.shape).toEqual([b, t, 4 * h]);
        expect(fused[1]!.shape).toEqual([h, 4 * h]);
        for (let i = 0; i < 2; i++) expect(maxAbsDiff(fused[i]!, reference[i]!)).toBeLessThan(1e-5);
      });
    });
  }

  it('gives zero gradients for a zero upstream gradient', () => {
    tf.tidy(() => {
      const projected = tf.randomNormal([2, 7, 12], 0, 2, 'float32', 4) as tf.Tensor3D;
      const weight = tf.randomNormal([3, 12], 0, 1, 'float32', 5) as tf.Tensor2D;
      const [dp, dw] = tf.grads((p: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.mul(lstmSequence(p as tf.Tensor3D, w as tf.Tensor2D), 0)),
      )([projected, weight]);
      expect(Array.from(dp!.dataSync()).every((v) => v === 0)).toBe(true);
      expect(Array.from(dw!.dataSync()).every((v) => v === 0)).toBe(true);
    });
  });
});
