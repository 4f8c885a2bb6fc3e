/**
 * The fused convolution (conv1d.ts) against the tfjs-op convolution it replaces (pad + shifted slices +
 * concat + matMul, layers.ts), values and gradients (tf.grads), on the cpu and wasm backends, for the
 * models' layer shapes (kernel 1 and 3, with and without bias and ReLU, a Fire module's two expands as
 * one op); its gradients against central differences; bad shapes are a ConvError.
 */

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { linear, shiftedViews } from '../models/layers.ts';
import { type ConvBranch, ConvError, conv1dFused } from './conv1d.ts';

const BACKENDS = ['cpu', 'wasm'] as const;

beforeAll(async () => {
  await startBackend('wasm');
});

/** The tfjs-op convolution: what layers.ts runs on other backends. */
function reference(x: tf.Tensor3D, branches: readonly ConvBranch[], relu: boolean): tf.Tensor3D {
  const ys = branches.map((br) => {
    const views = shiftedViews(x, br.kernel);
    const y =
      br.bias === undefined
        ? tf.matMul(tf.reshape(views, [-1, views.shape[2]]), br.weight as tf.Tensor2D)
        : linear(views, br.weight, br.bias);
    const y3 = tf.reshape(y, [x.shape[0], x.shape[1], br.weight.shape[1]!]) as tf.Tensor3D;
    return relu ? tf.relu(y3) : y3;
  });
  return tf.concat(ys, 2) as tf.Tensor3D;
}

interface Case {
  readonly name: string;
  readonly batch: number;
  readonly steps: number;
  readonly cin: number;
  readonly branches: readonly { kernel: number; cout: number; bias: boolean }[];
  readonly relu: boolean;
}

// The models' layers at a short length: SqueezeNet-1D's stem, a squeeze, a Fire's expands, the head,
// the CNN-LSTM's convolutions; plus odd sizes (not multiples of the GEMM's 5×8 tile) and no bias.
const CASES: Case[] = [
  {
    name: 'stem 12→64 k3 ReLU',
    batch: 3,
    steps: 17,
    cin: 12,
    branches: [{ kernel: 3, cout: 64, bias: true }],
    relu: true,
  },
  {
    name: 'squeeze 128→16 k1 ReLU',
    batch: 2,
    steps: 13,
    cin: 128,
    branches: [{ kernel: 1, cout: 16, bias: true }],
    relu: true,
  },
  {
    name: 'Fire expands 16→64+64 k1,k3 ReLU',
    batch: 3,
    steps: 11,
    cin: 16,
    branches: [
      { kernel: 1, cout: 64, bias: true },
      { kernel: 3, cout: 64, bias: true },
    ],
    relu: true,
  },
  {
    name: 'head 512→75 k1',
    batch: 2,
    steps: 10,
    cin: 512,
    branches: [{ kernel: 1, cout: 75, bias: true }],
    relu: false,
  },
  {
    name: 'CNN-LSTM 64→128 k3',
    batch: 2,
    steps: 19,
    cin: 64,
    branches: [{ kernel: 3, cout: 128, bias: true }],
    relu: false,
  },
  {
    name: 'odd 5→7 k3 no bias ReLU',
    batch: 1,
    steps: 4,
    cin: 5,
    branches: [{ kernel: 3, cout: 7, bias: false }],
    relu: true,
  },
  {
    name: 'odd 3→5+2 k5,k1, one without bias',
    batch: 4,
    steps: 3,
    cin: 3,
    branches: [
      { kernel: 5, cout: 5, bias: false },
      { kernel: 1, cout: 2, bias: true },
    ],
    relu: false,
  },
];

/** Inputs of a case from a seed: x, then each branch's weight and bias; and a weighting for the loss. */
function inputs(c: Case, seed: number): { x: tf.Tensor3D; branches: ConvBranch[]; r: tf.Tensor3D } {
  let s = seed;
  const rand = (shape: number[]) => tf.randomUniform(shape, -1, 1, 'float32', s++);
  const x = rand([c.batch, c.steps, c.cin]) as tf.Tensor3D;
  const branches = c.branches.map((br) => ({
    kernel: br.kernel,
    weight: tf.mul(rand([br.kernel * c.cin, br.cout]), 1 / Math.sqrt(br.kernel * c.cin)),
    ...(br.bias ? { bias: rand([br.cout]) } : {}),
  }));
  const ctot = c.branches.reduce((n, br) => n + br.cout, 0);
  return { x, branches, r: rand([c.batch, c.steps, ctot]) as tf.Tensor3D };
}

/** The output and the gradients of Σ y·r in every input, as arrays. */
function valueAndGrads(
  conv: (x: tf.Tensor3D, branches: readonly ConvBranch[]) => tf.Tensor3D,
  c: Case,
  seed: number,
): Float32Array[] {
  return tf.tidy(() => {
    const { x, branches, r } = inputs(c, seed);
    const flat: tf.Tensor[] = [x];
    for (const br of branches) flat.push(br.weight, ...(br.bias === undefined ? [] : [br.bias]));
    const rebuild = (ts: tf.Tensor[]) => {
      let next = 1;
      return branches.map((br) => ({
        kernel: br.kernel,
        weight: ts[next++]!,
        ...(br.bias === undefined ? {} : { bias: ts[next++]! }),
      }));
    };
    const y = conv(x, branches);
    const grads = tf.grads((...ts: tf.Tensor[]) =>
      tf.sum(tf.mul(conv(ts[0] as tf.Tensor3D, rebuild(ts)), r)),
    )(flat);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

function worstRelative(got: Float32Array, want: Float32Array): number {
  let scale = 1e-6;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  return worst / scale;
}

describe.each(BACKENDS)('conv1dFused on %s equals the tfjs-op convolution', (backend) => {
  it.each(CASES)('$name: output and gradients', async (c) => {
    await tf.setBackend(backend);
    const want = valueAndGrads((x, br) => reference(x, br, c.relu), c, 7);
    const got = valueAndGrads((x, br) => conv1dFused(x, br, { relu: c.relu }), c, 7);
    expect(got.length).toBe(want.length);
    got.forEach((g, i) => {
      expect(g.length, `output ${i}`).toBe(want[i]!.length);
      expect(worstRelative(g, want[i]!), `${i === 0 ? 'y' : `gradient ${i - 1}`}`).toBeLessThan(1e-5);
    });
  });
});

/** The CNN-LSTM's block with tfjs ops: conv → BatchNorm (batch statistics, as layers.ts) → ReLU. */
function referenceBn(x: tf.Tensor3D, conv: ConvBranch, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor3D {
  const z = reference(x, [conv], false);
  const { mean, variance } = tf.moments(z, [0, 1]);
  return tf.relu(
    tf.add(tf.mul(tf.sub(z, mean), tf.mul(tf.rsqrt(tf.add(variance, 1e-5)), gamma)), beta),
  ) as tf.Tensor3D;
}

describe.each(BACKENDS)(
  'conv1dFused with BatchNorm on %s equals conv → BatchNorm → ReLU in tfjs ops',
  (backend) => {
    const shapes = [
      { name: 'CNN-LSTM conv0 12→64 k3', batch: 3, steps: 17, cin: 12, cout: 64 },
      { name: 'CNN-LSTM conv2 128→256 k3', batch: 2, steps: 9, cin: 128, cout: 256 },
      { name: 'odd 5→7 k3', batch: 2, steps: 3, cin: 5, cout: 7 },
    ];
    it.each(shapes)('$name: output, gradients of x, W, b, γ, β, and the batch statistics', async (c) => {
      await tf.setBackend(backend);
      const run = (fused: boolean) =>
        tf.tidy(() => {
          const { x, branches, r } = inputs(
            {
              name: c.name,
              batch: c.batch,
              steps: c.steps,
              cin: c.cin,
              branches: [{ kernel: 3, cout: c.cout, bias: true }],
              relu: true,
            },
            3,
          );
          const gamma = tf.randomUniform([c.cout], 0.5, 1.5, 'float32', 91);
          const beta = tf.randomUniform([c.cout], -0.5, 0.5, 'float32', 92);
          let stats: Float32Array[] = [];
          const f = (xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor, gm: tf.Tensor, bt: tf.Tensor) => {
            const conv = { kernel: 3, weight: w, bias: b };
            return fused
              ? conv1dFused(xx as tf.Tensor3D, [conv], {
                  relu: true,
                  batchNorm: { gamma: gm, beta: bt, eps: 1e-5, onStatistics: (m, v) => (stats = [m, v]) },
                })
              : referenceBn(xx as tf.Tensor3D, conv, gm, bt);
          };
          const flat = [x, branches[0]!.weight, branches[0]!.bias!, gamma, beta];
          const y = f(...(flat as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]));
          const grads = tf.grads((...ts: tf.Tensor[]) =>
            tf.sum(tf.mul(f(...(ts as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])), r)),
          )(flat);
          if (!fused) {
            const z = reference(x, branches, false);
            const { mean, variance } = tf.moments(z, [0, 1]);
            const n = c.batch * c.steps;
            stats = [
              mean.dataSync() as Float32Array,
              tf.mul(variance, n / (n - 1)).dataSync() as Float32Array,
            ];
          }
          return { values: [y, ...grads].map((t) => t.dataSync() as Float32Array), stats };
        });
      const want = run(false);
      const got = run(true);
      // The conv bias's gradient is ~0 (BatchNorm removes a per-channel shift): judge it on dγ's scale.
      let scale = 0;
      for (const v of want.values[4]!) scale = Math.max(scale, Math.abs(v));
      got.values.forEach((g, i) => {
        const w = want.values[i]!;
        if (i === 3) {
          let worst = 0;
          for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j]! - w[j]!));
          expect(worst / scale, 'conv bias gradient').toBeLessThan(1e-5);
        } else {
          expect(worstRelative(g, w), i === 0 ? 'y' : `gradient ${i - 1}`).toBeLessThan(2e-5);
        }
      });
      expect(worstRelative(got.stats[0]!, want.stats[0]!), 'batch mean').toBeLessThan(1e-5);
      expect(worstRelative(got.stats[1]!, want.stats[1]!), 'unbiased batch variance').toBeLessThan(1e-5);
    });
  },
);

describe('conv1dFused gradients equal central differences', () => {
  const c: Case = {
    name: 'fd',
    batch: 2,
    steps: 5,
    cin: 3,
    branches: [
      { kernel: 3, cout: 3, bias: true },
      { kernel: 1, cout: 2, bias: true },
    ],
    relu: true,
  };
  it.each(BACKENDS)('on %s, along a random direction in every input', async (backend) => {
    await tf.setBackend(backend);
    const { x, branches, r } = inputs(c, 21);
    const flat: tf.Tensor[] = [x];
    for (const br of branches) flat.push(br.weight, br.bias!);
    const loss = (ts: tf.Tensor[]) =>
      tf.tidy(() => {
        const ys = conv1dFused(
          ts[0] as tf.Tensor3D,
          [
            { kernel: 3, weight: ts[1]!, bias: ts[2]! },
            { kernel: 1, weight: ts[3]!, bias: ts[4]! },
          ],
          { relu: true },
        );
        // Summed in doubles so the difference quotient is not float32 rounding.
        const y = ys.dataSync();
        const w = r.dataSync();
        let sum = 0;
        for (let i = 0; i < y.length; i++) sum += y[i]! * w[i]!;
        return sum;
      });
    const grads = tf.grads((...ts: tf.Tensor[]) =>
      tf.sum(
        tf.mul(
          conv1dFused(
            ts[0] as tf.Tensor3D,
            [
              { kernel: 3, weight: ts[1]!, bias: ts[2]! },
              { kernel: 1, weight: ts[3]!, bias: ts[4]! },
            ],
            { relu: true },
          ),
          r,
        ),
      ),
    )(flat);
    const eps = 1e-3;
    flat.forEach((t, i) => {
      const v = tf.randomUniform(t.shape, -1, 1, 'float32', 100 + i);
      const plus = flat.map((u, j) => (j === i ? tf.add(u, tf.mul(v, eps)) : u));
      const minus = flat.map((u, j) => (j === i ? tf.sub(u, tf.mul(v, eps)) : u));
      const numeric = (loss(plus) - loss(minus)) / (2 * eps);
      const analytic = tf.sum(tf.mul(grads[i]!, v)).dataSync()[0]!;
      expect(Math.abs(numeric - analytic), `input ${i}: ${numeric} vs ${analytic}`).toBeLessThan(
        2e-3 * Math.max(1, Math.abs(analytic)),
      );
    });
  });
});

describe('conv1dFused with BatchNorm: gradients equal central differences', () => {
  it.each(BACKENDS)('on %s, along a random direction in x, W, b, γ and β', async (backend) => {
    await tf.setBackend(backend);
    const x = tf.randomUniform([2, 6, 3], -1, 1, 'float32', 41);
    const flat = [
      x,
      tf.randomUniform([9, 4], -0.5, 0.5, 'float32', 42),
      tf.randomUniform([4], -0.5, 0.5, 'float32', 43),
      tf.randomUniform([4], 0.5, 1.5, 'float32', 44),
      tf.randomUniform([4], -0.5, 0.5, 'float32', 45),
    ];
    const r = tf.randomUniform([2, 6, 4], -1, 1, 'float32', 46);
    const f = (ts: tf.Tensor[]) =>
      conv1dFused(ts[0] as tf.Tensor3D, [{ kernel: 3, weight: ts[1]!, bias: ts[2]! }], {
        relu: true,
        batchNorm: { gamma: ts[3]!, beta: ts[4]!, eps: 1e-5 },
      });
    const loss = (ts: tf.Tensor[]) =>
      tf.tidy(() => {
        const y = f(ts).dataSync();
        const w = r.dataSync();
        let sum = 0;
        for (let i = 0; i < y.length; i++) sum += y[i]! * w[i]!;
        return sum;
      });
    const grads = tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(f(ts), r)))(flat);
    const eps = 1e-3;
    flat.forEach((t, i) => {
      const v = tf.randomUniform(t.shape, -1, 1, 'float32', 200 + i);
      const plus = flat.map((u, j) => (j === i ? tf.add(u, tf.mul(v, eps)) : u));
      const minus = flat.map((u, j) => (j === i ? tf.sub(u, tf.mul(v, eps)) : u));
      const numeric = (loss(plus) - loss(minus)) / (2 * eps);
      const analytic = tf.sum(tf.mul(grads[i]!, v)).dataSync()[0]!;
      expect(Math.abs(numeric - analytic), `input ${i}: ${numeric} vs ${analytic}`).toBeLessThan(
        3e-3 * Math.max(1, Math.abs(analytic)),
      );
    });
  });
});

describe('conv1dFused on wasm while the backend heap grows', () => {
  it('keeps its values when allocating an output moves the heap (BatchNorm: y and ẑ are two outputs)', async () => {
    await tf.setBackend('wasm');
    const heapBytes = () =>
      (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
    // 2 × 32 MB of outputs: more than the heap has free at this point of the file, so it grows mid-op.
    const x = tf.randomUniform([8, 4000, 2], -1, 1, 'float32', 5) as tf.Tensor3D;
    const weight = tf.randomUniform([6, 256], -1, 1, 'float32', 6);
    const gamma = tf.randomUniform([256], 0.5, 1.5, 'float32', 7);
    const beta = tf.zeros([256]);
    const before = heapBytes();
    const y = conv1dFused(x, [{ kernel: 3, weight }], { batchNorm: { gamma, beta, eps: 1e-5 } });
    expect(heapBytes(), 'the heap grew during the op').toBeGreaterThan(before);
    const want = tf.tidy(() => {
      const z = reference(x, [{ kernel: 3, weight }], false);
      const { mean, variance } = tf.moments(z, [0, 1]);
      return tf.add(tf.mul(tf.sub(z, mean), tf.mul(tf.rsqrt(tf.add(variance, 1e-5)), gamma)), beta);
    });
    expect(worstRelative(y.dataSync() as Float32Array, want.dataSync() as Float32Array)).toBeLessThan(2e-5);
    tf.dispose([x, weight, gamma, beta, y, want]);
  });
});

describe('conv1dFused rejects what it cannot compute', () => {
  it('a weight that does not fit k·Cin rows, an even kernel, a bias of the wrong length', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 4, 3]) as tf.Tensor3D;
    expect(() => conv1dFused(x, [{ kernel: 3, weight: tf.zeros([8, 2]) }])).toThrow(ConvError);
    expect(() => conv1dFused(x, [{ kernel: 2, weight: tf.zeros([6, 2]) }])).toThrow(/odd kernel 2/);
    expect(() => conv1dFused(x, [{ kernel: 1, weight: tf.zeros([3, 2]), bias: tf.zeros([3]) }])).toThrow(
      ConvError,
    );
    expect(() => conv1dFused(x, [])).toThrow(ConvError);
    const conv = { kernel: 3, weight: tf.zeros([9, 2]) };
    expect(() =>
      conv1dFused(x, [conv], { batchNorm: { gamma: tf.ones([3]), beta: tf.zeros([2]), eps: 1e-5 } }),
    ).toThrow(/γ \[3\] and β \[2\] must be \[2\]/);
    expect(() =>
      conv1dFused(tf.zeros([1, 1, 3]) as tf.Tensor3D, [conv], {
        batchNorm: { gamma: tf.ones([2]), beta: tf.zeros([2]), eps: 1e-5 },
      }),
    ).toThrow(/more than one row/);
  });
});
