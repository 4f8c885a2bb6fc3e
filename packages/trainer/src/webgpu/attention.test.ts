/**
 * The WGSL attention against the stock tfjs ops (the naive map with autograd) on webgpu and on the cpu
 * backend, and against central differences — on Dawn over SwiftShader here, on a real GPU on the GPU
 * machine. Shapes are small (and one with the Transformer's 75 heads) so the file stays well under a minute.
 */

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { naiveAttention } from '../models/attention.ts';
import { webgpuAttention } from './attention.ts';
import { kernelRuns, WebgpuKernelError } from './program.ts';

beforeAll(async () => {
  await startBackend('webgpu');
});

type Triple = [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function inputs(b: number, lq: number, lk: number, h: number, seed: number): { qkv: Triple; w: tf.Tensor3D } {
  return {
    qkv: [
      tf.randomNormal([b, lq, h], 0, 1.5, 'float32', seed) as tf.Tensor3D,
      tf.randomNormal([b, lk, h], 0, 1.5, 'float32', seed + 1) as tf.Tensor3D,
      tf.randomNormal([b, lk, h], 0, 1, 'float32', seed + 2) as tf.Tensor3D,
    ],
    w: tf.randomNormal([b, lq, h], 0, 1, 'float32', seed + 3) as tf.Tensor3D,
  };
}

type Attn = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, causal: boolean) => tf.Tensor3D;

/** Reads tensors back (webgpu in Node has no dataSync) and disposes them. */
async function read(ts: tf.Tensor[]): Promise<Float32Array[]> {
  const out = await Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(ts);
  return out;
}

/** The output and the gradients of Σ w ∘ attention(q, k, v), as arrays. */
function valueAndGrads(run: Attn, qkv: Triple, w: tf.Tensor3D, causal: boolean): Promise<Float32Array[]> {
  const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
    tf.sum(tf.mul(run(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, causal), w));
  return read(tf.tidy(() => [run(...qkv, causal), ...tf.grads(f)(qkv)]));
}

/** The stock ops on tfjs-cpu, from the same numbers. */
async function onCpu(qkv: Triple, w: tf.Tensor3D, causal: boolean): Promise<Float32Array[]> {
  const data = await Promise.all([...qkv, w].map((t) => t.data() as Promise<Float32Array>));
  await tf.setBackend('cpu');
  try {
    const [q, k, v, wc] = data.map((a, i) => tf.tensor3d(a, (i < 3 ? qkv[i]! : w).shape));
    return await valueAndGrads(naiveAttention, [q!, k!, v!], wc!, causal);
  } finally {
    await tf.setBackend('webgpu');
  }
}

describe('webgpuAttention (WGSL, width-1 heads)', () => {
  const shapes = [
    [2, 6, 6, 5],
    [2, 4, 9, 5],
    [1, 7, 7, 75],
  ] as const;
  for (const causal of [false, true]) {
    for (const [b, lq, lk, h] of shapes) {
      it(`equals the stock ops on webgpu and cpu, values and gradients (causal ${causal}, B ${b}, Lq ${lq}, Lk ${lk}, H ${h})`, async () => {
        expect(tf.getBackend()).toBe('webgpu');
        const { qkv, w } = inputs(b, lq, lk, h, 10 * lq + lk);
        const before = kernelRuns[`ecgAttentionKeyGrad_${h}_${causal}`] ?? 0;
        const fused = await valueAndGrads(webgpuAttention, qkv, w, causal);
        expect(kernelRuns[`ecgAttentionKeyGrad_${h}_${causal}`]).toBe(before + 1);
        const stock = await valueAndGrads(naiveAttention, qkv, w, causal);
        const cpu = await onCpu(qkv, w, causal);
        expect(tf.getBackend()).toBe('webgpu');
        const names = ['O', 'dQ', 'dK', 'dV'];
        for (let i = 0; i < 4; i++) {
          expect(fused[i]!.every(Number.isFinite), names[i]).toBe(true);
          expect(maxAbsDiff(fused[i]!, stock[i]!), `${names[i]} vs stock webgpu`).toBeLessThan(1e-4);
          expect(maxAbsDiff(fused[i]!, cpu[i]!), `${names[i]} vs stock cpu`).toBeLessThan(1e-4);
        }
        // A causal map with Lk > Lq gives the last keys to the last queries only: dK, dV are not all zero there.
        expect(fused[2]!.some((x) => x !== 0)).toBe(true);
        tf.dispose([...qkv, w]);
      });
    }
  }

  it('has gradients equal to central differences of its own forward', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    for (const causal of [false, true]) {
      const { qkv, w } = inputs(1, 4, 6, 3, 77);
      const loss = async (t: Triple) =>
        (await read([tf.tidy(() => tf.sum(tf.mul(webgpuAttention(...t, causal), w)))]))[0]![0]!;
      const grads = (await valueAndGrads(webgpuAttention, qkv, w, causal)).slice(1);
      const eps = 1e-2;
      for (let which = 0; which < 3; which++) {
        const base = (await qkv[which]!.data()) as Float32Array;
        for (const at of [0, 5, base.length - 1]) {
          const shifted = async (delta: number) => {
            const data = base.slice();
            data[at] = data[at]! + delta;
            const t = [...qkv] as Triple;
            t[which] = tf.tensor3d(data, qkv[which]!.shape);
            const l = await loss(t);
            t[which]!.dispose();
            return l;
          };
          const numeric = ((await shifted(eps)) - (await shifted(-eps))) / (2 * eps);
          const analytic = grads[which]![at]!;
          expect(Math.abs(numeric - analytic), `causal ${causal} input ${which} element ${at}`).toBeLessThan(
            2e-3 + 1e-2 * Math.abs(analytic),
          );
        }
      }
      tf.dispose([...qkv, w]);
    }
  });

  it('is right past 65,535 workgroups, where tfjs spreads the dispatch over y and z', async () => {
    // B·Lq·H / 64 = 1·56,000·75 / 64 = 65,625 workgroups for the forward and dQ — what batch 114 of the
    // Transformer's 490 steps reaches. Two keys keep it cheap and give a closed form, computed here in doubles.
    const [lq, lk, h] = [56_000, 2, 75];
    const { qkv, w } = inputs(1, lq, lk, h, 5);
    const [o, dQ] = await read(
      tf.tidy(() => {
        const f = (q: tf.Tensor) =>
          tf.sum(tf.mul(webgpuAttention(q as tf.Tensor3D, qkv[1], qkv[2], false), w));
        return [webgpuAttention(...qkv, false), tf.grad(f)(qkv[0])];
      }),
    );
    const [q, k, v, up] = await Promise.all([...qkv, w].map((t) => t.data() as Promise<Float32Array>));
    let worst = 0;
    for (let at = 0; at < lq * h; at++) {
      const c = at % h;
      // Two keys: P = (p0, 1 − p0), O = v1 + p0·(v0 − v1), dQ = up·p0·(1 − p0)·(v0 − v1)·(k0 − k1).
      const [k0, k1, v0, v1] = [k![c]!, k![h + c]!, v![c]!, v![h + c]!];
      const p0 = 1 / (1 + Math.exp(q![at]! * (k1 - k0)));
      const out = v1 + p0 * (v0 - v1);
      const grad = up![at]! * p0 * (1 - p0) * (v0 - v1) * (k0 - k1);
      worst = Math.max(worst, Math.abs(o![at]! - out), Math.abs(dQ![at]! - grad));
    }
    expect(worst).toBeLessThan(1e-4);
    tf.dispose([...qkv, w]);
  });

  it('leaves no tensor behind after a forward and backward pass', async () => {
    const { qkv, w } = inputs(2, 5, 7, 3, 41);
    const before = tf.memory().numTensors;
    for (const causal of [false, true]) await valueAndGrads(webgpuAttention, qkv, w, causal);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...qkv, w]);
  });

  it('rejects shapes it cannot run with a WebgpuKernelError', () => {
    const q = tf.zeros([1, 5, 3]) as tf.Tensor3D;
    const k = tf.zeros([1, 4, 3]) as tf.Tensor3D;
    expect(() => webgpuAttention(q, k, k, true)).toThrow(WebgpuKernelError);
    expect(() => webgpuAttention(q, k, tf.zeros([1, 4, 2]) as tf.Tensor3D, false)).toThrow(/do not fit/);
  });
});
