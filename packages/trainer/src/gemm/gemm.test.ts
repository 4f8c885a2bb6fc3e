import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { random } from '../kernels/test-random.ts';
import { assembleGemm, WASM_FILES } from './build.ts';
import { createGemm, GemmError, type MatMulJob } from './gemm.ts';
import { DEFAULT_SHAPE } from './wat.ts';

/** The plain triple loop in doubles, and Σ|a||b| per entry for a rounding-aware tolerance. */
function reference(job: MatMulJob): { c: Float64Array; scale: Float64Array } {
  const { m, n, k, batch = 1, transposeA, transposeB, bias, relu } = job;
  const aItems = job.a.length / (m * k || 1);
  const bItems = job.b.length / (k * n || 1);
  const c = new Float64Array(batch * m * n);
  const scale = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = (aItems === 1 ? 0 : t) * m * k;
    const bo = (bItems === 1 ? 0 : t) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = bias?.[j] ?? 0;
        let abs = Math.abs(s);
        for (let q = 0; q < k; q++) {
          const av = job.a[ao + (transposeA ? q * m + i : i * k + q)]!;
          const bv = job.b[bo + (transposeB ? j * k + q : q * n + j)]!;
          s += av * bv;
          abs += Math.abs(av * bv);
        }
        c[(t * m + i) * n + j] = relu ? Math.max(0, s) : s;
        scale[(t * m + i) * n + j] = abs;
      }
    }
  }
  return { c, scale };
}

const gemms = [createGemm({ threads: 1 }), createGemm({ threads: 2 })];
afterAll(() => Promise.all(gemms.map((g) => g.close())));

describe('the committed GEMM binaries', () => {
  it.each(Object.entries(WASM_FILES))('%s equals a fresh build of wat.ts', async (kind, file) => {
    const committed = new Uint8Array(await readFile(new URL(file, import.meta.url)));
    const fresh = await assembleGemm(kind === 'shared');
    expect(committed.length).toBe(fresh.length);
    expect(Buffer.compare(committed, fresh), `${file} is stale: run src/gemm/build.ts`).toBe(0);
  });
});

describe('gemm against the plain triple loop', () => {
  const sizes = [1, 3, 7, 8, 33, 127];
  const rng = random(9);
  const cases: { m: number; n: number; k: number; ta: boolean; tb: boolean; batch: number; bc: string }[] =
    [];
  for (let c = 0; c < 48; c++) {
    const pick = () => sizes[Math.floor(((rng() + 1) / 2) * sizes.length)]!;
    cases.push({
      m: pick(),
      // N past one packed-B block and K past one block's depth now and then: the jc loop and the
      // accumulate-into-C path between k blocks.
      n: c % 8 === 4 ? DEFAULT_SHAPE.nc + 9 : pick(),
      k: c % 8 === 0 ? DEFAULT_SHAPE.kc + 44 + c : pick(),
      ta: c % 2 === 1,
      tb: c % 4 >= 2,
      batch: c % 3 === 0 ? 3 : 1,
      bc: ['none', 'a', 'b'][c % 3]!,
    });
  }
  it.each(cases)('M $m N $n K $k transposeA $ta transposeB $tb batch $batch broadcast $bc', (cs) => {
    const r = random(cs.m * 1000 + cs.n * 10 + cs.k);
    const aItems = cs.batch > 1 && cs.bc === 'a' ? 1 : cs.batch;
    const bItems = cs.batch > 1 && cs.bc === 'b' ? 1 : cs.batch;
    const job: MatMulJob = {
      a: Float32Array.from({ length: aItems * cs.m * cs.k }, r),
      b: Float32Array.from({ length: bItems * cs.k * cs.n }, r),
      m: cs.m,
      n: cs.n,
      k: cs.k,
      transposeA: cs.ta,
      transposeB: cs.tb,
      batch: cs.batch,
      ...(cs.k % 2 === 1 ? { bias: Float32Array.from({ length: cs.n }, r), relu: true } : {}),
    };
    const { c, scale } = reference(job);
    for (const gemm of gemms) {
      const out = gemm.matmul(job);
      let worst = 0;
      for (let i = 0; i < c.length; i++)
        worst = Math.max(worst, Math.abs(out[i]! - c[i]!) / (scale[i]! + 1e-30));
      expect(worst, `${gemm.info.threads} thread(s)`).toBeLessThan(1e-5);
    }
  });

  it('splits a large product over both threads and matches the single-thread result exactly', async () => {
    expect(await gemms[1]!.started()).toBe(2);
    const r = random(5);
    const job = {
      a: Float32Array.from({ length: 600 * 96 }, r),
      b: Float32Array.from({ length: 96 * 70 }, r),
    };
    const one = gemms[0]!.matmul({ ...job, m: 600, n: 70, k: 96 });
    const two = gemms[1]!.matmul({ ...job, m: 600, n: 70, k: 96 });
    expect(gemms[1]!.info).toMatchObject({ threads: 2, shared: true });
    expect(Buffer.compare(Buffer.from(one.buffer), Buffer.from(two.buffer))).toBe(0);
  });

  it('K = 0 gives the bias through the ReLU; misfit operands are a GemmError', () => {
    const bias = Float32Array.of(-1, 2);
    const out = gemms[1]!.matmul({
      a: new Float32Array(0),
      b: new Float32Array(0),
      m: 2,
      n: 2,
      k: 0,
      bias,
      relu: true,
    });
    expect(Array.from(out)).toEqual([0, 2, 0, 2]);
    expect(() =>
      gemms[0]!.matmul({ a: new Float32Array(5), b: new Float32Array(6), m: 2, n: 3, k: 2 }),
    ).toThrow(GemmError);
  });
});

describe('product over operands in the engine memory', () => {
  it('reads overlapping A rows (im2col windows), writes a column slice of C and accumulates, on 1 and 2 threads', async () => {
    expect(await gemms[1]!.started()).toBe(2);
    // Per item: A(t, q) = x[t·cin + q] over a window of 3·cin (rows overlap), C has ldc 2n and the product
    // goes into columns [n, 2n), then a second product accumulates into the same place.
    // 4.8 M multiply-adds: past PARALLEL_FLOPS, so two threads split the items.
    const [items, rows, cin, n] = [4, 2000, 5, 40];
    const span = rows + 2;
    const k = 3 * cin;
    const r = random(77);
    const x = Float32Array.from({ length: items * span * cin + 8 }, r);
    const w = Float32Array.from({ length: k * n }, r);
    const want = new Float64Array(items * rows * 2 * n);
    for (let b = 0; b < items; b++) {
      for (let t = 0; t < rows; t++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let q = 0; q < k; q++) s += x[(b * span + t) * cin + q]! * w[q * n + j]!;
          want[(b * rows + t) * 2 * n + n + j] = 2 * s;
        }
      }
    }
    const results = gemms.map((gemm) => {
      const [xAt, wAt, cAt] = gemm.arena([x.length, w.length, want.length]) as [number, number, number];
      const heap = gemm.heap();
      heap.set(x, xAt / 4);
      heap.set(w, wAt / 4);
      heap.fill(0, cAt / 4, cAt / 4 + want.length);
      for (const accumulate of [false, true]) {
        gemm.product({
          m: rows,
          n,
          k,
          batch: items,
          a: { at: xAt, rowStride: cin * 4, colStride: 4, itemStride: span * cin * 4 },
          b: { at: wAt, rowStride: n * 4, colStride: 4 },
          c: { at: cAt + n * 4, rowStride: 2 * n * 4, itemStride: rows * 2 * n * 4 },
          accumulate,
        });
      }
      return gemm.heap().slice(cAt / 4, cAt / 4 + want.length);
    });
    for (const got of results) {
      let worst = 0;
      // Columns [0, n) of C were never written: they stay zero.
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst).toBeLessThan(1e-4);
    }
    expect(Buffer.compare(Buffer.from(results[0]!.buffer), Buffer.from(results[1]!.buffer))).toBe(0);
  });

  it('refuses a product that reaches outside the memory or has no unit stride in A', () => {
    const gemm = gemms[0]!;
    const [at] = gemm.arena([16]) as [number];
    const size = gemm.heap().length * 4;
    const ok = { at, rowStride: 16, colStride: 4 };
    expect(() => gemm.product({ m: 2, n: 2, k: 2, a: ok, b: ok, c: { at: size - 8, rowStride: 8 } })).toThrow(
      /outside the arena/,
    );
    expect(() =>
      gemm.product({ m: 2, n: 2, k: 2, a: { at, rowStride: 8, colStride: 8 }, b: ok, c: ok }),
    ).toThrow(GemmError);
    expect(() => gemm.product({ m: 2, n: 2, k: 0, a: ok, b: ok, c: ok })).toThrow(GemmError);
  });
});
