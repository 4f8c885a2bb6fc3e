import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../backend.ts';
import { AttentionError, attention, implementationFor, naiveAttention } from '../../models/attention.ts';

beforeAll(async () => {
  // wasm as the trainer starts it (our GEMM and kernels installed); cpu is registered beside it.
  await startBackend('wasm');
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

interface Case {
  readonly batch: number;
  readonly queries: number;
  readonly keys: number;
  readonly heads: number;
  readonly causal: boolean;
}

const cases: Case[] = [
  // decoder self-attention (causal, Lq = Lk), heads not a multiple of 4
  { batch: 2, queries: 12, keys: 12, heads: 7, causal: true },
  // incremental decoding: the newest queries against the whole cached prefix (offset Lk − Lq)
  { batch: 2, queries: 5, keys: 17, heads: 6, causal: true },
  // cross-attention to the 10 encoder tokens, the model's 75 heads
  { batch: 2, queries: 9, keys: 10, heads: 75, causal: false },
  { batch: 1, queries: 4, keys: 3, heads: 4, causal: false },
];

function inputs({ batch, queries, keys, heads }: Case, seed: number) {
  return {
    q: tf.randomNormal([batch, queries, heads], 0, 2, 'float32', seed) as tf.Tensor3D,
    k: tf.randomNormal([batch, keys, heads], 0, 2, 'float32', seed + 1) as tf.Tensor3D,
    v: tf.randomNormal([batch, keys, heads], 0, 1, 'float32', seed + 2) as tf.Tensor3D,
    w: tf.randomNormal([batch, queries, heads], 0, 1, 'float32', seed + 3),
  };
}

describe.each(['cpu', 'wasm'])('attention on %s runs the fused kernel', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
    expect(tf.getBackend()).toBe(backend);
    expect(implementationFor(backend)).toBe('wasm-simd');
  });

  it.each(cases)('equals the naive map and its autograd gradients: %o', (c) => {
    const { q, k, v, w } = inputs(c, 7);
    const fused = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
      tf.sum(
        tf.mul(attention(a as tf.Tensor3D, b as tf.Tensor3D, d as tf.Tensor3D, { causal: c.causal }), w),
      );
    const naive = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
      tf.sum(tf.mul(naiveAttention(a as tf.Tensor3D, b as tf.Tensor3D, d as tf.Tensor3D, c.causal), w));
    const o = attention(q, k, v, { causal: c.causal });
    expect(o.shape).toEqual([c.batch, c.queries, c.heads]);
    expect(maxAbsDiff(o, naiveAttention(q, k, v, c.causal))).toBeLessThan(1e-5);
    const before = tf.memory().numTensors;
    const gFused = tf.grads(fused)([q, k, v]);
    // The op leaves nothing behind but the three gradients.
    expect(tf.memory().numTensors).toBe(before + 3);
    const gNaive = tf.grads(naive)([q, k, v]);
    for (let i = 0; i < 3; i++) {
      expect(gFused[i]!.shape).toEqual(gNaive[i]!.shape);
      expect(maxAbsDiff(gFused[i]!, gNaive[i]!), ['dq', 'dk', 'dv'][i]).toBeLessThan(1e-5);
    }
  });

  it('has gradients equal to central differences', () => {
    const c: Case = { batch: 1, queries: 6, keys: 8, heads: 5, causal: true };
    const { q, k, v, w } = inputs(c, 21);
    const loss = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
      tf.sum(
        tf.mul(attention(a as tf.Tensor3D, b as tf.Tensor3D, d as tf.Tensor3D, { causal: c.causal }), w),
      );
    const grads = tf.grads(loss)([q, k, v]);
    const eps = 1e-2;
    let checked = 0;
    for (const [which, x] of [q, k, v].entries()) {
      const values = x.dataSync() as Float32Array;
      const analytic = grads[which]!.dataSync();
      // Every 3rd coordinate of each input: 10 of q's 30, 13 of k's and of v's 40.
      for (let i = which; i < values.length; i += 3) {
        const at = (delta: number) => {
          const moved = values.slice();
          moved[i] = moved[i]! + delta;
          const t = tf.tensor3d(moved, x.shape);
          const args = [q, k, v].map((y, j) => (j === which ? t : y));
          const value = loss(args[0]!, args[1]!, args[2]!).dataSync()[0]!;
          t.dispose();
          return value;
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        expect(Math.abs(numeric - analytic[i]!), `input ${which} index ${i}`).toBeLessThan(
          2e-3 * (1 + Math.abs(numeric)),
        );
        checked++;
      }
    }
    expect(checked).toBe(36);
  });
});

describe('bad shapes', () => {
  it('names what does not fit, on every implementation', () => {
    const q = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    const k = tf.zeros([2, 5, 4]) as tf.Tensor3D;
    expect(() => attention(q, tf.zeros([3, 5, 4]) as tf.Tensor3D, k, { causal: false })).toThrow(
      AttentionError,
    );
    expect(() => attention(q, k, tf.zeros([2, 5, 3]) as tf.Tensor3D, { causal: false })).toThrow(
      /same B and H/,
    );
    expect(() => attention(k, q, q, { causal: true })).toThrow(/at least as many keys as queries/);
    expect(() => attention(q, k.toInt() as tf.Tensor3D, k.toInt() as tf.Tensor3D, { causal: false })).toThrow(
      /k is int32, expected float32/,
    );
  });
});

describe('inputs made on another backend', () => {
  it('are moved to the wasm heap by the engine before the op reads them', async () => {
    await tf.setBackend('cpu');
    const q = tf.randomNormal([1, 4, 5], 0, 1, 'float32', 31) as tf.Tensor3D;
    const k = tf.randomNormal([1, 4, 5], 0, 1, 'float32', 32) as tf.Tensor3D;
    const want = naiveAttention(q, k, k, true);
    await tf.setBackend('wasm');
    expect(maxAbsDiff(attention(q, k, k, { causal: true }), want)).toBeLessThan(1e-5);
  });
});
