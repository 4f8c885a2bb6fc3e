import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { random } from '../test-random.ts';
import { assembleAttention, WASM_FILES } from './build.ts';
import { AttentionError, type AttentionShape, createAttentionKernel, statsLength } from './kernel.ts';

function filled(n: number, rng: () => number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng() * scale);
}

/** Attention with the full map, in doubles, and its gradients for an upstream gradient dO. */
function reference(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dO: Float32Array,
  { batch, queries, keys, heads, causal }: AttentionShape,
) {
  const o = new Float64Array(q.length);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const qa = (i: number) => (b * queries + i) * heads + h;
      const ka = (j: number) => (b * keys + j) * heads + h;
      for (let i = 0; i < queries; i++) {
        const visible = causal ? i + keys - queries + 1 : keys;
        const s = Array.from({ length: visible }, (_, j) => q[qa(i)]! * k[ka(j)]!);
        const max = Math.max(...s);
        const e = s.map((x) => Math.exp(x - max));
        const sum = e.reduce((a, x) => a + x, 0);
        const p = e.map((x) => x / sum);
        const out = p.reduce((a, x, j) => a + x * v[ka(j)]!, 0);
        o[qa(i)] = out;
        const g = dO[qa(i)]!;
        for (let j = 0; j < visible; j++) {
          const ds = p[j]! * g * (v[ka(j)]! - out);
          dv[ka(j)] = dv[ka(j)]! + p[j]! * g;
          dq[qa(i)] = dq[qa(i)]! + ds * k[ka(j)]!;
          dk[ka(j)] = dk[ka(j)]! + ds * q[qa(i)]!;
        }
      }
    }
  }
  return { o, dq, dk, dv };
}

function maxDiff(a: Float32Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const kernels = [createAttentionKernel({ threads: 1 }), createAttentionKernel({ threads: 2 })];
afterAll(() => Promise.all(kernels.map((k) => k.close())));

describe('the committed attention binaries', () => {
  it.each(Object.entries(WASM_FILES))('%s equals a fresh build of wat.ts', async (kind, file) => {
    const committed = new Uint8Array(await readFile(new URL(file, import.meta.url)));
    const fresh = await assembleAttention(kind === 'shared');
    expect(Buffer.compare(committed, fresh), `${file} is stale: run kernels/attention/build.ts`).toBe(0);
  });
});

describe('fused attention against the full map in doubles', () => {
  const shapes: AttentionShape[] = [
    { batch: 2, queries: 7, keys: 7, heads: 5, causal: true },
    { batch: 1, queries: 3, keys: 11, heads: 8, causal: true },
    { batch: 3, queries: 9, keys: 10, heads: 75, causal: false },
    { batch: 2, queries: 1, keys: 1, heads: 3, causal: false },
    { batch: 1, queries: 6, keys: 13, heads: 2, causal: false },
    // Enough scores to spread over the worker thread.
    { batch: 4, queries: 120, keys: 120, heads: 75, causal: true },
  ];
  for (const [n, kernel] of kernels.entries()) {
    it.each(shapes)(`${n + 1} thread(s): %o`, async (shape) => {
      await kernel.started();
      const rng = random(shape.batch * 1000 + shape.queries * 10 + shape.heads);
      const { batch, queries, keys, heads } = shape;
      // Scores up to ±9: exp needs its range reduction, and the softmax is far from uniform.
      const q = filled(batch * queries * heads, rng, 3);
      const k = filled(batch * keys * heads, rng, 3);
      const v = filled(batch * keys * heads, rng, 1);
      const dO = filled(batch * queries * heads, rng, 1);
      const want = reference(q, k, v, dO, shape);
      const { o, stats } = kernel.forward(q, k, v, shape);
      expect(maxDiff(o, want.o)).toBeLessThan(2e-6);
      const { dq, dk, dv } = kernel.backward(q, k, v, o, stats, dO, shape);
      expect(maxDiff(dq, want.dq)).toBeLessThan(1e-5);
      expect(maxDiff(dk, want.dk)).toBeLessThan(1e-5);
      expect(maxDiff(dv, want.dv)).toBeLessThan(1e-5);
    });
  }

  it('exp is as accurate as an f32 argument allows over the range softmax uses', () => {
    // Two keys (scores 0 and d): O = σ(d). An exp of an f32 argument x is off by up to |x|·2⁻²⁴
    // relative whatever its polynomial, so the bound grows with |d|; the polynomial's own error is the
    // constant part (≈1e−7, plus the output's rounding).
    const n = 4001;
    const shape: AttentionShape = { batch: 1, queries: n, keys: 2, heads: 4, causal: false };
    const q = new Float32Array(n * 4);
    const k = new Float32Array([0, 0, 0, 0, 1, 1, 1, 1]);
    for (let i = 0; i < n; i++) q.fill(-30 + (60 * i) / (n - 1), 4 * i, 4 * i + 4);
    const { o } = kernels[0]!.forward(q, k, k, shape);
    let worstRelative = 0;
    let worstAbsolute = 0;
    for (let i = 0; i < n; i++) {
      const d = q[4 * i]!;
      const want = 1 / (1 + Math.exp(-d));
      worstRelative = Math.max(
        worstRelative,
        Math.abs(o[4 * i]! - want) / want / (4e-7 + 1e-7 * Math.abs(d)),
      );
      worstAbsolute = Math.max(worstAbsolute, Math.abs(o[4 * i]! - want));
    }
    expect(worstRelative).toBeLessThan(1);
    expect(worstAbsolute).toBeLessThan(2e-7);
  });
});

describe('bad shapes', () => {
  const kernel = kernels[0]!;
  const ok: AttentionShape = { batch: 1, queries: 2, keys: 3, heads: 2, causal: false };
  const q = new Float32Array(4);
  const kv = new Float32Array(6);

  it('names the operand whose length does not fit', () => {
    expect(() => kernel.forward(new Float32Array(5), kv, kv, ok)).toThrow(/q has 5 floats, expected 4/);
    expect(() => kernel.forward(q, kv, new Float32Array(7), ok)).toThrow(AttentionError);
    const { o, stats } = kernel.forward(q, kv, kv, ok);
    expect(() => kernel.backward(q, kv, kv, o, stats.subarray(1), q, ok)).toThrow(/stats has/);
    expect(statsLength(ok)).toBe(stats.length);
  });

  it('refuses causal attention with fewer keys than queries, no keys, and non-integer sizes', () => {
    expect(() =>
      kernel.forward(new Float32Array(6), q, q, { ...ok, queries: 3, keys: 2, causal: true }),
    ).toThrow(/at least as many keys as queries/);
    expect(() => kernel.forward(q, new Float32Array(0), new Float32Array(0), { ...ok, keys: 0 })).toThrow(
      /no keys/,
    );
    expect(() => kernel.forward(q, kv, kv, { ...ok, heads: 1.5 })).toThrow(/heads 1.5 is not a size/);
  });

  it('gives empty results for an empty batch', () => {
    const empty = new Float32Array(0);
    const shape = { ...ok, batch: 0 };
    const { o, stats } = kernel.forward(empty, empty, empty, shape);
    expect(o.length).toBe(0);
    expect(kernel.backward(empty, empty, empty, o, stats, empty, shape).dq.length).toBe(0);
  });
});
