import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { attention, attentionMemory, naiveAttention } from './attention.ts';

beforeAll(async () => {
  await startBackend('wasm');
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('attention (chunked, hand-written gradient)', () => {
  for (const causal of [false, true]) {
    for (const [lq, lk] of [
      [12, 12],
      [5, 17],
    ] as const) {
      if (!causal && lq !== lk && lk < lq) continue;
      it(`matches the naive map and its autograd gradient (causal ${causal}, Lq ${lq}, Lk ${lk})`, () => {
        const q = tf.randomNormal([2, lq, 3], 0, 2, 'float32', 1) as tf.Tensor3D;
        const k = tf.randomNormal([2, lk, 3], 0, 2, 'float32', 2) as tf.Tensor3D;
        const v = tf.randomNormal([2, lk, 3], 0, 1, 'float32', 3) as tf.Tensor3D;
        const w = tf.randomNormal([2, lq, 3], 0, 1, 'float32', 4);
        // A budget of 2·Lk·3 floats forces chunks of a single query row.
        const fast = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(
            tf.mul(
              attention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, {
                causal,
                chunkFloats: 2 * lk * 3,
              }),
              w,
            ),
          );
        const slow = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.mul(naiveAttention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, causal), w));
        expect(Math.abs(fast(q, k, v).dataSync()[0]! - slow(q, k, v).dataSync()[0]!)).toBeLessThan(1e-4);
        const gFast = tf.grads(fast)([q, k, v]);
        const gSlow = tf.grads(slow)([q, k, v]);
        for (let i = 0; i < 3; i++) expect(maxAbsDiff(gFast[i]!, gSlow[i]!)).toBeLessThan(1e-4);
      });
    }
  }

  it('keeps memory far below the full map for a long causal sequence', () => {
    const [b, l, h] = [2, 490, 75];
    const q = tf.randomNormal([b, l, h]) as tf.Tensor3D;
    const k = tf.randomNormal([b, l, h]) as tf.Tensor3D;
    const v = tf.randomNormal([b, l, h]) as tf.Tensor3D;
    const before = tf.memory().numBytes;
    attentionMemory.reset();
    const g = tf.grads((a, c, d) =>
      tf.sum(
        attention(a as tf.Tensor3D, c as tf.Tensor3D, d as tf.Tensor3D, {
          causal: true,
          chunkFloats: 2 ** 20,
        }),
      ),
    )([q, k, v]);
    const fullMap = b * l * l * h * 4;
    const used = attentionMemory.peakBytes - before;
    expect(used).toBeGreaterThan(0);
    // A chunk holds a dozen [B, rows, keys, H] intermediates of at most 2^20 floats each.
    expect(used).toBeLessThan(16 * 2 ** 20 * 4);
    expect(used).toBeLessThan(fullMap / 2);
    expect(Number.isFinite(tf.sum(g[0]!).dataSync()[0]!)).toBe(true);
  });
});
