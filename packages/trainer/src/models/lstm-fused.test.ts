import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { assembleLstm, LSTM_WASM } from '../kernels/lstm/build.ts';
import { lstmSteps } from './cnn-lstm.ts';
import { lstmSequence, lstmSequenceWith } from './lstm-fused.ts';

type Lstm = typeof lstmSequence;
const javascript = lstmSequenceWith('javascript');

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** Projections of spread ±2 drive the gates through their non-linear ranges; W like PyTorch's init. */
function inputs(b: number, t: number, h: number, seed: number) {
  const projected = tf.randomNormal([b, t, 4 * h], 0, 2, 'float32', seed) as tf.Tensor3D;
  const bound = 1 / Math.sqrt(h);
  const weight = tf.randomUniform([h, 4 * h], -bound, bound, 'float32', seed + 1) as tf.Tensor2D;
  const upstream = tf.randomNormal([b, t, h], 0, 1, 'float32', seed + 2);
  return { projected, weight, upstream };
}

const lossOf = (run: Lstm, upstream: tf.Tensor) => (p: tf.Tensor, w: tf.Tensor) =>
  tf.sum(tf.mul(run(p as tf.Tensor3D, w as tf.Tensor2D), upstream));

describe.each(['cpu', 'wasm'] as const)(
  'lstmSequence on %s (WebAssembly kernels, hand-written BPTT)',
  (backend) => {
    beforeAll(async () => {
      // startBackend runs one backend per process: start wasm (with our GEMM), then switch tfjs itself.
      await startBackend('wasm');
      await import('@tensorflow/tfjs-backend-cpu');
      await tf.setBackend(backend);
    });

    for (const [b, t, h] of [
      // Four samples per step run together, the rest one by one: 6 = 4 + 2, 5 = 4 + 1.
      [6, 7, 4],
      [5, 30, 64],
      [1, 9, 36],
    ] as const) {
      it(`equals the JavaScript reference and the tfjs-ops recurrence with its autograd gradients (B ${b}, T ${t}, H ${h})`, () => {
        tf.tidy(() => {
          const { projected, weight, upstream } = inputs(b, t, h, 1);
          const ours = lstmSequence(projected, weight);
          expect(ours.shape).toEqual([b, t, h]);
          expect(maxAbsDiff(ours, javascript(projected, weight))).toBeLessThan(1e-5);
          expect(maxAbsDiff(ours, lstmSteps(projected, weight))).toBeLessThan(1e-5);
          const fused = tf.grads(lossOf(lstmSequence, upstream))([projected, weight]);
          expect(fused[0]!.shape).toEqual([b, t, 4 * h]);
          expect(fused[1]!.shape).toEqual([h, 4 * h]);
          for (const other of [javascript, lstmSteps]) {
            const reference = tf.grads(lossOf(other, upstream))([projected, weight]);
            for (let i = 0; i < 2; i++) expect(maxAbsDiff(fused[i]!, reference[i]!)).toBeLessThan(1e-5);
          }
        });
      });
    }

    it('keeps to the reference over 500 steps (B 5, H 64): errors do not grow through the recurrence', () => {
      tf.tidy(() => {
        const { projected, weight, upstream } = inputs(5, 500, 64, 11);
        expect(maxAbsDiff(lstmSequence(projected, weight), javascript(projected, weight))).toBeLessThan(1e-5);
        const ours = tf.grads(lossOf(lstmSequence, upstream))([projected, weight]);
        const reference = tf.grads(lossOf(javascript, upstream))([projected, weight]);
        expect(maxAbsDiff(ours[0]!, reference[0]!)).toBeLessThan(1e-5);
        // d(W_hh) sums ~1,000 rows of size ~1: compare relative to its largest entry.
        const scale = tf.max(tf.abs(reference[1]!)).dataSync()[0]!;
        expect(maxAbsDiff(ours[1]!, reference[1]!) / scale).toBeLessThan(1e-5);
      });
    });

    it('has the gradient of central finite differences', () => {
      // The loss is f32: a step of 1e-2 keeps its rounding (~1e-7 of a loss ~1) at ~3e-5 of the slope,
      // and the O(step²) truncation near 1e-4, both well inside the 2e-3 allowed.
      tf.tidy(() => {
        const { projected, weight, upstream } = inputs(1, 6, 4, 21);
        const loss = lossOf(lstmSequence, upstream);
        const [dp, dw] = tf.grads(loss)([projected, weight]);
        const eps = 1e-2;
        const probe = (x: tf.Tensor, grad: tf.Tensor, which: 0 | 1, index: number) => {
          const values = x.dataSync().slice();
          const at = (delta: number) => {
            const moved = values.slice();
            moved[index] = moved[index]! + delta;
            const m = tf.tensor(moved, x.shape);
            return (which === 0 ? loss(m, weight) : loss(projected, m)).dataSync()[0]!;
          };
          const numeric = (at(eps) - at(-eps)) / (2 * eps);
          const analytic = grad.dataSync()[index]!;
          expect(Math.abs(numeric - analytic), `${which ? 'W_hh' : 'projected'}[${index}]`).toBeLessThan(
            2e-3 * Math.max(1, Math.abs(analytic)),
          );
        };
        for (const i of [0, 5, 17, 40, 63, 95]) probe(projected, dp!, 0, i);
        for (const i of [0, 9, 31, 44, 63]) probe(weight, dw!, 1, i);
      });
    });

    it('runs the forward again when later forwards took its trace slot (one slot, two LSTMs in one loss)', () => {
      tf.tidy(() => {
        const oneSlot = lstmSequenceWith({ slots: 1 });
        const { projected, weight, upstream } = inputs(5, 12, 8, 31);
        const second = tf.randomNormal([5, 12, 32], 0, 2, 'float32', 35);
        const twice = (run: Lstm) => (p: tf.Tensor, w: tf.Tensor) =>
          tf.add(lossOf(run, upstream)(p, w), lossOf(run, upstream)(tf.add(p, second), w));
        const ours = tf.grads(twice(oneSlot))([projected, weight]);
        const reference = tf.grads(twice(javascript))([projected, weight]);
        for (let i = 0; i < 2; i++) expect(maxAbsDiff(ours[i]!, reference[i]!)).toBeLessThan(1e-5);
      });
    });

    it('takes the JavaScript path for H not a multiple of 4, with the same results as the tfjs ops', () => {
      tf.tidy(() => {
        const { projected, weight, upstream } = inputs(2, 7, 3, 41);
        expect(maxAbsDiff(lstmSequence(projected, weight), lstmSteps(projected, weight))).toBeLessThan(1e-5);
        const ours = tf.grads(lossOf(lstmSequence, upstream))([projected, weight]);
        const reference = tf.grads(lossOf(lstmSteps, upstream))([projected, weight]);
        for (let i = 0; i < 2; i++) expect(maxAbsDiff(ours[i]!, reference[i]!)).toBeLessThan(1e-5);
      });
    });

    it('handles an empty batch, zero steps and one step (no step before it: d(W_hh) = 0)', () => {
      tf.tidy(() => {
        for (const [b, t] of [
          [0, 5],
          [2, 0],
          [2, 1],
        ] as const) {
          const { projected, weight, upstream } = inputs(b, t, 4, 61);
          expect(lstmSequence(projected, weight).shape).toEqual([b, t, 4]);
          const [dp, dw] = tf.grads(lossOf(lstmSequence, upstream))([projected, weight]);
          const [rp, rw] = tf.grads(lossOf(javascript, upstream))([projected, weight]);
          expect(dp!.shape).toEqual([b, t, 16]);
          if (dp!.size > 0) expect(maxAbsDiff(dp!, rp!)).toBeLessThan(1e-5);
          expect(Array.from(dw!.dataSync())).toEqual(Array.from(rw!.dataSync()));
          expect(Array.from(dw!.dataSync()).every((v) => v === 0)).toBe(true);
        }
      });
    });

    it('gives zero gradients for a zero upstream gradient', () => {
      tf.tidy(() => {
        const projected = tf.randomNormal([2, 7, 16], 0, 2, 'float32', 4) as tf.Tensor3D;
        const weight = tf.randomNormal([4, 16], 0, 1, 'float32', 5) as tf.Tensor2D;
        const [dp, dw] = tf.grads((p: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.mul(lstmSequence(p as tf.Tensor3D, w as tf.Tensor2D), 0)),
        )([projected, weight]);
        expect(Array.from(dp!.dataSync()).every((v) => v === 0)).toBe(true);
        expect(Array.from(dw!.dataSync()).every((v) => v === 0)).toBe(true);
      });
    });

    it('leaks no tensors', () => {
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const { projected, weight, upstream } = inputs(2, 5, 4, 51);
        tf.grads(lossOf(lstmSequence, upstream))([projected, weight]);
      });
      expect(tf.memory().numTensors).toBe(before);
    });
  },
);

describe('lstm.wasm', () => {
  it('equals a fresh build of kernels/lstm/wat.ts', async () => {
    const committed = await readFile(new URL(`../kernels/lstm/${LSTM_WASM}`, import.meta.url));
    const fresh = await assembleLstm();
    expect(Buffer.compare(committed, fresh), `${LSTM_WASM} is stale: run src/kernels/lstm/build.ts`).toBe(0);
  });
});
