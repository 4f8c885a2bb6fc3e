/**
 * The fused max-pooling (maxpool.ts) against the tfjs-op pooling it replaces (pad + two slices + two
 * maximums, layers.ts's fallback): values and gradients on cpu and wasm, ties included (they must go
 * where tfjs sends them), central differences, and a clear error for channels it does not handle.
 */

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { maxPool3Ops } from '../models/layers.ts';
import { maxPool3Fused, PoolError } from './maxpool.ts';

beforeAll(async () => {
  await startBackend('wasm');
});

/** layers.ts's tfjs-op pooling. */
const reference = maxPool3Ops;

function valueAndGrad(pool: (x: tf.Tensor3D) => tf.Tensor3D, x: tf.Tensor3D, r: tf.Tensor3D): Float32Array[] {
  return tf.tidy(() => {
    const y = pool(x);
    const [dx] = tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(pool(xx as tf.Tensor3D), r)))([x]);
    return [y.dataSync() as Float32Array, dx!.dataSync() as Float32Array];
  });
}

describe.each(['cpu', 'wasm'] as const)('maxPool3Fused on %s equals the tfjs-op pooling', (backend) => {
  const shapes: [string, [number, number, number], boolean][] = [
    ['SqueezeNet-1D after the stem (short)', [3, 17, 64], false],
    ['one step', [2, 1, 8], false],
    ['two steps', [2, 2, 4], false],
    ['ties: values from {−1, 0, 1}', [2, 9, 12], true],
  ];
  it.each(shapes)('%s: output and gradient', async (_, shape, ties) => {
    await tf.setBackend(backend);
    const x = tf.tidy(() => {
      const u = tf.randomUniform(shape, -1, 1, 'float32', 3);
      return (ties ? tf.round(u) : u) as tf.Tensor3D;
    });
    const r = tf.randomUniform(shape, -1, 1, 'float32', 4) as tf.Tensor3D;
    const want = valueAndGrad(reference, x, r);
    const got = valueAndGrad(maxPool3Fused, x, r);
    // Pure routing of values: equal, not merely close (+ 0 makes −0 and 0 the same).
    const plain = (a: Float32Array) => Array.from(a, (v) => v + 0);
    expect(plain(got[0]!)).toEqual(plain(want[0]!));
    for (let i = 0; i < want[1]!.length; i++) expect(got[1]![i], `dx[${i}]`).toBeCloseTo(want[1]![i]!, 6);
    tf.dispose([x, r]);
  });

  it('gradient equals central differences (no ties)', async () => {
    await tf.setBackend(backend);
    const x = tf.randomUniform([2, 6, 4], -1, 1, 'float32', 8) as tf.Tensor3D;
    const r = tf.randomUniform([2, 6, 4], -1, 1, 'float32', 9) as tf.Tensor3D;
    const v = tf.randomUniform([2, 6, 4], -1, 1, 'float32', 10);
    const loss = (t: tf.Tensor) =>
      tf.tidy(() => {
        const y = maxPool3Fused(t as tf.Tensor3D).dataSync();
        const w = r.dataSync();
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i]! * w[i]!;
        return s;
      });
    const [dx] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(maxPool3Fused(t as tf.Tensor3D), r)))([x]);
    const eps = 1e-3;
    const numeric = (loss(tf.add(x, tf.mul(v, eps))) - loss(tf.sub(x, tf.mul(v, eps)))) / (2 * eps);
    const analytic = tf.sum(tf.mul(dx!, v)).dataSync()[0]!;
    expect(Math.abs(numeric - analytic)).toBeLessThan(1e-3 * Math.max(1, Math.abs(analytic)));
  });
});

describe('maxPool3Fused rejects what it does not compute', () => {
  it('a channel count that is not a multiple of 4', () => {
    expect(() => maxPool3Fused(tf.zeros([1, 3, 5]) as tf.Tensor3D)).toThrow(PoolError);
  });
});
