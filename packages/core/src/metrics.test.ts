import { describe, expect, it } from 'vitest';
import { computeMetrics, MetricsAccumulator, SpreadAccumulator } from './metrics.ts';

/** Textbook definitions, computed the slow and obvious way. */
function reference(t: number[], p: number[]) {
  const n = t.length;
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const mt = mean(t);
  const mp = mean(p);
  const sse = t.reduce((s, v, i) => s + (p[i]! - v) ** 2, 0);
  const sst = t.reduce((s, v) => s + (v - mt) ** 2, 0);
  const pearson = (a: number[], b: number[]) => {
    const ma = mean(a);
    const mb = mean(b);
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    for (let i = 0; i < a.length; i++) {
      sab += (a[i]! - ma) * (b[i]! - mb);
      saa += (a[i]! - ma) ** 2;
      sbb += (b[i]! - mb) ** 2;
    }
    return sab / Math.sqrt(saa * sbb);
  };
  const ranks = (a: number[]) => {
    const r = new Array<number>(a.length);
    for (let i = 0; i < a.length; i++) {
      let less = 0;
      let equal = 0;
      for (const v of a) {
        if (v < a[i]!) less++;
        else if (v === a[i]) equal++;
      }
      r[i] = less + (equal + 1) / 2;
    }
    return r;
  };
  void mp;
  return {
    mae: t.reduce((s, v, i) => s + Math.abs(p[i]! - v), 0) / n,
    mse: sse / n,
    r2: 1 - sse / sst,
    pearson: pearson(t, p),
    spearman: pearson(ranks(t), ranks(p)),
  };
}

function lcg(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

describe('MetricsAccumulator', () => {
  it('matches the textbook definitions, ties included', () => {
    const rnd = lcg(3);
    // Rounded values produce many ties in both vectors.
    const t = Array.from({ length: 700 }, () => Math.round(rnd() * 20) / 4);
    const p = t.map((v) => Math.fround(Math.round((v + (rnd() - 0.5) * 2) * 4) / 4));
    const got = computeMetrics(Float32Array.from(t), Float32Array.from(p));
    const want = reference(t, p);
    expect(got.count).toBe(700);
    for (const k of ['mae', 'mse', 'r2', 'pearson', 'spearman'] as const) {
      expect(got[k]).toBeCloseTo(want[k], 10);
    }
    expect(got.spearman).not.toBeCloseTo(got.pearson, 3);
  });

  it('gives the same answer however the data is chunked', () => {
    const rnd = lcg(11);
    const t = Float32Array.from({ length: 10_000 }, () => rnd() * 100 - 85);
    const p = t.map((v) => v + (rnd() - 0.5) * 10);
    const whole = computeMetrics(t, p);
    const acc = new MetricsAccumulator();
    for (let i = 0; i < t.length; ) {
      const n = 1 + Math.floor(rnd() * 1500);
      acc.add(t.subarray(i, i + n), p.subarray(i, i + n));
      i += n;
    }
    const chunked = acc.result();
    for (const k of ['mae', 'mse', 'r2', 'pearson', 'spearman'] as const) {
      expect(chunked[k]).toBeCloseTo(whole[k], 12);
    }
  });

  it('handles −0 as a tie of +0, reversed order and constant vectors', () => {
    expect(computeMetrics([0, 1, 2], [-0, 1, 2]).spearman).toBe(1);
    expect(computeMetrics([1, 2, 3, 4], [4, 3, 2, 1]).spearman).toBeCloseTo(-1, 12);
    const flat = computeMetrics([1, 1, 1], [1, 2, 3]);
    expect(flat.r2).toBe(0);
    expect(flat.pearson).toBeNaN();
    expect(computeMetrics([2, 2], [2, 2]).r2).toBe(1);
  });

  it('rejects mismatched lengths, non-finite values and empty input', () => {
    const acc = new MetricsAccumulator();
    expect(() => acc.add([1, 2], [1])).toThrow(/2 targets but 1 predictions/);
    expect(() => acc.add([1, Number.NaN], [1, 2])).toThrow(/non-finite target at index 1/);
    expect(() => acc.result()).toThrow(/no values were added/);
  });

  it('is exact over 60 million values without running out of memory', () => {
    // target = i mod 1000 (60,000 ties per value), prediction = target + 0.5: every metric is known.
    const n = 60_000_000;
    const chunk = 3_000_000;
    const t = new Float32Array(chunk);
    const p = new Float32Array(chunk);
    for (let i = 0; i < chunk; i++) {
      t[i] = i % 1000;
      p[i] = t[i]! + 0.5;
    }
    const before = process.memoryUsage().rss;
    const acc = new MetricsAccumulator();
    for (let done = 0; done < n; done += chunk) acc.add(t, p);
    const m = acc.result();
    const growth = process.memoryUsage().rss - before;
    expect(m.count).toBe(n);
    expect(m.mae).toBe(0.5);
    expect(m.mse).toBe(0.25);
    expect(m.r2).toBeCloseTo(1 - 0.25 / ((1000 * 1000 - 1) / 12), 12);
    expect(m.pearson).toBeCloseTo(1, 12);
    expect(m.spearman).toBeCloseTo(1, 12);
    expect(growth).toBeLessThan(2.5e9);
  }, 180_000);
});

describe('SpreadAccumulator', () => {
  /** Samples of `per` values: a shared shape plus a per-sample offset and noise (seeded). */
  function samples(n: number, per: number, seed: number): Float32Array {
    let s = seed;
    const rand = () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648;
    };
    const out = new Float32Array(n * per);
    for (let k = 0; k < n; k++) {
      const offset = rand() - 0.5;
      for (let i = 0; i < per; i++) out[k * per + i] = Math.sin(i / 7) + offset + 0.1 * (rand() - 0.5);
    }
    return out;
  }

  it('is the mean over positions of the standard deviation across samples, and their ratio', () => {
    const per = 9;
    const n = 40;
    const truth = samples(n, per, 1);
    const prediction = samples(n, per, 2).map((v) => 0.5 * v);
    const acc = new SpreadAccumulator(per);
    acc.add(truth, prediction);
    const meanStd = (y: Float32Array) => {
      let total = 0;
      for (let i = 0; i < per; i++) {
        const col = Array.from({ length: n }, (_, k) => y[k * per + i]!);
        const mean = col.reduce((a, b) => a + b, 0) / n;
        total += Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
      }
      return total / per;
    };
    const r = acc.result();
    expect(r.truth).toBeCloseTo(meanStd(truth), 10);
    expect(r.predicted).toBeCloseTo(meanStd(prediction), 10);
    expect(r.ratio).toBeCloseTo(meanStd(prediction) / meanStd(truth), 10);
    // Chunking does not change it.
    const chunked = new SpreadAccumulator(per);
    for (let k = 0; k < n; k += 7) {
      const to = Math.min(n, k + 7);
      chunked.add(truth.subarray(k * per, to * per), prediction.subarray(k * per, to * per));
    }
    expect(chunked.result().ratio).toBeCloseTo(r.ratio, 12);
  });

  it('reads 0 for one output whatever the input, however good that output is on average', () => {
    const per = 50;
    const n = 30;
    const truth = samples(n, per, 3);
    // The mean of the truth, drawn for every sample: a fine pooled R², no dependence on the input.
    const mean = new Float32Array(per);
    for (let k = 0; k < n; k++) for (let i = 0; i < per; i++) mean[i]! += truth[k * per + i]! / n;
    const constant = new Float32Array(n * per);
    for (let k = 0; k < n; k++) constant.set(mean, k * per);
    const acc = new SpreadAccumulator(per);
    acc.add(truth, constant);
    expect(acc.result().ratio).toBeLessThan(1e-6);
    expect(computeMetrics(truth, constant).r2).toBeGreaterThan(0);
    const same = new SpreadAccumulator(per);
    same.add(truth, truth);
    expect(same.result().ratio).toBeCloseTo(1, 12);
  });

  it('refuses partial samples and reads NaN below two samples', () => {
    const acc = new SpreadAccumulator(4);
    expect(() => acc.add(new Float32Array(6), new Float32Array(6))).toThrow('not whole samples of 4 values');
    expect(() => acc.add(new Float32Array(4), new Float32Array(8))).toThrow('4 targets and 8 predictions');
    acc.add(new Float32Array(4), new Float32Array(4));
    expect(acc.result().ratio).toBeNaN();
    expect(() => new SpreadAccumulator(0)).toThrow('positive integer');
  });
});
