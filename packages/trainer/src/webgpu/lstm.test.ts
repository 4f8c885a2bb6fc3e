/**
 * The WGSL LSTM recurrence against the stock tfjs ops (the per-step recurrence with autograd) on webgpu
 * and on the cpu backend, and against central differences — on Dawn over SwiftShader here. Sequences are
 * short (the kernels' cost is linear in T; the CNN-LSTM's 500 steps change nothing in the logic).
 */

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { lstmSteps } from '../models/cnn-lstm.ts';
import { lstmSequence } from '../models/lstm-fused.ts';
import { webgpuLstmSequence } from './lstm.ts';
import { kernelRuns, WebgpuKernelError } from './program.ts';

beforeAll(async () => {
  await startBackend('webgpu');
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Reads tensors back (webgpu in Node has no dataSync) and disposes them. */
async function read(ts: tf.Tensor[]): Promise<Float32Array[]> {
  const out = await Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(ts);
  return out;
}

type Lstm = (p: tf.Tensor3D, w: tf.Tensor2D) => tf.Tensor3D;

interface Case {
  readonly p: tf.Tensor3D;
  readonly w: tf.Tensor2D;
  readonly up: tf.Tensor3D;
}

function inputs(b: number, t: number, h: number, seed: number): Case {
  return {
    // Projections of spread ±2 drive the gates through their non-linear ranges.
    p: tf.randomNormal([b, t, 4 * h], 0, 2, 'float32', seed) as tf.Tensor3D,
    w: tf.randomUniform([h, 4 * h], -1 / Math.sqrt(h), 1 / Math.sqrt(h), 'float32', seed + 1) as tf.Tensor2D,
    up: tf.randomNormal([b, t, h], 0, 1, 'float32', seed + 2) as tf.Tensor3D,
  };
}

/** Hidden states and the gradients of Σ up ∘ lstm(p, w), as arrays. */
function valueAndGrads(run: Lstm, { p, w, up }: Case): Promise<Float32Array[]> {
  const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(run(a as tf.Tensor3D, b as tf.Tensor2D), up));
  return read(tf.tidy(() => [run(p, w), ...tf.grads(f)([p, w])]));
}

/** `run` on tfjs-cpu, from the same numbers. */
async function onCpu(run: Lstm, c: Case): Promise<Float32Array[]> {
  const [p, w, up] = await Promise.all([c.p, c.w, c.up].map((t) => t.data() as Promise<Float32Array>));
  await tf.setBackend('cpu');
  try {
    return await valueAndGrads(run, {
      p: tf.tensor3d(p!, c.p.shape),
      w: tf.tensor2d(w!, c.w.shape),
      up: tf.tensor3d(up!, c.up.shape),
    });
  } finally {
    await tf.setBackend('webgpu');
  }
}

describe('webgpuLstmSequence (WGSL, one dispatch each way)', () => {
  for (const [b, t, h] of [
    [2, 7, 3],
    [3, 12, 64],
    [1, 1, 4],
  ] as const) {
    it(`equals the stock per-step ops and the CPU op, values and gradients (B ${b}, T ${t}, H ${h})`, async () => {
      expect(tf.getBackend()).toBe('webgpu');
      const c = inputs(b, t, h, 3 * t + h);
      const before = kernelRuns[`ecgLstmBackward_${h}`] ?? 0;
      const fused = await valueAndGrads(webgpuLstmSequence, c);
      expect(kernelRuns[`ecgLstmBackward_${h}`]).toBe(before + 1);
      // tfjs's per-step recurrence cannot run one step (its gradient fails in stack): there the
      // reference is the CPU op of models/lstm-fused.ts, itself tested against the per-step ops.
      const references: [string, Float32Array[]][] = [['fused CPU op on cpu', await onCpu(lstmSequence, c)]];
      if (t > 1) {
        references.push(['stock ops on webgpu', await valueAndGrads(lstmSteps, c)]);
        references.push(['stock ops on cpu', await onCpu(lstmSteps, c)]);
      }
      expect(tf.getBackend()).toBe('webgpu');
      const names = ['hidden', 'd(projected)', 'd(hiddenWeight)'];
      for (let i = 0; i < 3; i++) {
        expect(fused[i]!.every(Number.isFinite), names[i]).toBe(true);
        for (const [name, ref] of references) {
          expect(maxAbsDiff(fused[i]!, ref[i]!), `${names[i]} vs ${name}`).toBeLessThan(1e-4);
        }
      }
      // One step has no recurrence: d(hiddenWeight) is exactly zero there, and must not be elsewhere.
      expect(fused[2]!.some((x) => x !== 0)).toBe(t > 1);
      tf.dispose([c.p, c.w, c.up]);
    });
  }

  it('has gradients equal to central differences of its own forward', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const c = inputs(2, 5, 3, 91);
    const grads = (await valueAndGrads(webgpuLstmSequence, c)).slice(1);
    const loss = async (p: tf.Tensor3D, w: tf.Tensor2D) =>
      (await read([tf.tidy(() => tf.sum(tf.mul(webgpuLstmSequence(p, w), c.up)))]))[0]![0]!;
    const eps = 1e-2;
    const bases = [(await c.p.data()) as Float32Array, (await c.w.data()) as Float32Array];
    for (let which = 0; which < 2; which++) {
      const base = bases[which]!;
      for (const at of [0, 7, 13, base.length - 1]) {
        const shifted = async (delta: number) => {
          const data = base.slice();
          data[at] = data[at]! + delta;
          const p = which === 0 ? tf.tensor3d(data, c.p.shape) : c.p;
          const w = which === 1 ? tf.tensor2d(data, c.w.shape) : c.w;
          const l = await loss(p, w);
          tf.dispose(which === 0 ? p : w);
          return l;
        };
        const numeric = ((await shifted(eps)) - (await shifted(-eps))) / (2 * eps);
        const analytic = grads[which]![at]!;
        expect(Math.abs(numeric - analytic), `input ${which} element ${at}`).toBeLessThan(
          2e-3 + 1e-2 * Math.abs(analytic),
        );
      }
    }
    tf.dispose([c.p, c.w, c.up]);
  });

  it('leaves no tensor behind after a forward and backward pass', async () => {
    const c = inputs(2, 6, 4, 61);
    const before = tf.memory().numTensors;
    await valueAndGrads(webgpuLstmSequence, c);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([c.p, c.w, c.up]);
  });

  it('rejects shapes it cannot run with a WebgpuKernelError', () => {
    expect(() =>
      webgpuLstmSequence(tf.zeros([1, 2, 12]) as tf.Tensor3D, tf.zeros([4, 16]) as tf.Tensor2D),
    ).toThrow(/do not fit/);
    expect(() =>
      webgpuLstmSequence(tf.zeros([1, 2, 260]) as tf.Tensor3D, tf.zeros([65, 260]) as tf.Tensor2D),
    ).toThrow(WebgpuKernelError);
  });
});
