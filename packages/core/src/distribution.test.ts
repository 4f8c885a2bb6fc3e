import { describe, expect, it } from 'vitest';
import {
  checkInDistribution,
  type DistributionStats,
  ECG_FEATURE_NAMES,
  fitDistribution,
  mahalanobis,
  OUT_OF_RANGE_QUANTILE,
  scoreFeatures,
  UNUSUAL_QUANTILE,
} from './distribution.ts';
import { InputError } from './errors.ts';
import { N_LEADS, N_STEPS } from './layout.ts';
import { parseManifest } from './manifest.ts';

const K = ECG_FEATURE_NAMES.length;

/** Deterministic standard normals (xorshift + Box–Muller). */
function normals(seed: number) {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** n rows of K features: independent N(0, 1) except feature 1 = feature 0 + 0.1·noise. */
function rows(n: number, seed: number): Float64Array[] {
  const g = normals(seed);
  return Array.from({ length: n }, () => {
    const r = Float64Array.from({ length: K }, g);
    r[1] = r[0]! + 0.1 * g();
    return r;
  });
}

describe('fitDistribution and the Mahalanobis distance', () => {
  const stats = fitDistribution(rows(4000, 1));

  it('stores consistent statistics, bands ordered as their quantiles', () => {
    expect(stats.features).toEqual(ECG_FEATURE_NAMES);
    expect(stats.count).toBe(4000);
    expect(stats.mean).toHaveLength(K);
    expect(stats.whitening).toHaveLength(K * K);
    expect(stats.quantiles.map((q) => q.q)).toEqual([0.5, 0.9, UNUSUAL_QUANTILE, OUT_OF_RANGE_QUANTILE, 1]);
    const d = stats.quantiles.map((q) => q.distance);
    for (let i = 1; i < d.length; i++) expect(d[i]).toBeGreaterThanOrEqual(d[i - 1]!);
    expect(stats.unusual).toBe(d[2]);
    expect(stats.threshold).toBe(d[3]);
    // Whitening is lower-triangular.
    for (let a = 0; a < K; a++) for (let b = a + 1; b < K; b++) expect(stats.whitening[a * K + b]).toBe(0);
  });

  it('gives distances like a χ with K − 1 effective dimensions on fresh rows of the same law', () => {
    // Features 0 and 1 move together, so about K − 1 independent directions remain.
    const fresh = rows(2000, 2).map((r) => mahalanobis(r, stats));
    fresh.sort((a, b) => a - b);
    const median = fresh[1000]!;
    expect(median).toBeGreaterThan(Math.sqrt(K - 1) * 0.9);
    expect(median).toBeLessThan(Math.sqrt(K - 1) * 1.1);
    const inRange = fresh.filter((d) => d <= stats.unusual).length / fresh.length;
    expect(inRange).toBeGreaterThan(0.97);
  });

  it('sees a broken correlation that each feature alone would pass', () => {
    const mean = Float64Array.from(stats.mean);
    const along = Float64Array.from(mean);
    along[0] = 2;
    along[1] = 2;
    const against = Float64Array.from(mean);
    against[0] = 2;
    against[1] = -2;
    // Same |z| per feature; only the pair's relation differs.
    expect(scoreFeatures(along, stats).status).toBe('in-range');
    const broken = scoreFeatures(against, stats);
    expect(broken.status).toBe('out-of-range');
    expect(broken.distance!).toBeGreaterThan(stats.threshold);
    expect(broken.farthest).toHaveLength(3);
    expect(Math.abs(broken.farthest[0]!.z)).toBeGreaterThanOrEqual(Math.abs(broken.farthest[1]!.z));
    expect(broken.message).toMatch(/Do not rely on this reconstruction/);
  });

  it('rejects rows it cannot fit, naming the row', () => {
    expect(() => fitDistribution(rows(1, 3))).toThrow(/at least 2/);
    const bad = rows(10, 3);
    bad[4] = new Float64Array(K - 1);
    expect(() => fitDistribution(bad)).toThrow(/row 4 has 20 features/);
    const nan = rows(10, 3);
    nan[7]![3] = Number.NaN;
    expect(() => fitDistribution(nan)).toThrow(InputError);
    expect(() => fitDistribution(nan)).toThrow(/row 7/);
    expect(() => fitDistribution(rows(10, 3), { shrinkage: 0 })).toThrow(/shrinkage/);
  });

  it('survives a feature that never varies', () => {
    const flat = rows(100, 4).map((r) => {
      r[5] = 1;
      return r;
    });
    const s = fitDistribution(flat);
    expect(Number.isFinite(s.threshold)).toBe(true);
    const off = Float64Array.from(s.mean);
    off[5] = 1.5;
    expect(scoreFeatures(off, s).status).toBe('out-of-range');
  });
});

describe('checkInDistribution', () => {
  const stats = fitDistribution(rows(500, 5));

  it('says "not checked" without statistics, whatever the window', () => {
    const c = checkInDistribution(new Float32Array(N_LEADS * N_STEPS), undefined);
    expect(c.status).toBe('not-checked');
    expect(c.distance).toBeNull();
    expect(c.message).toMatch(/Not checked/);
  });

  it('says "not measurable" for a flat window instead of throwing', () => {
    const c = checkInDistribution(new Float32Array(N_LEADS * N_STEPS), stats);
    expect(c.status).toBe('not-measurable');
    expect(c.message).toMatch(/flat record/);
  });

  it('refuses statistics of other features', () => {
    const other: DistributionStats = { ...stats, features: [...stats.features].reverse() };
    expect(() => checkInDistribution(new Float32Array(N_LEADS * N_STEPS), other)).toThrow(
      /statistics describe/,
    );
  });
});

describe('the manifest field', () => {
  const stats = fitDistribution(rows(200, 6));
  const manifest = (inDistribution: unknown) => ({
    schemaVersion: 1,
    name: 'cnn',
    version: '0.2.1',
    architecture: 'squeezenet1d',
    parameters: 1,
    inputs: [{ name: 'ecg', shape: ['batch', 12, 'time'], dtype: 'float32' }],
    outputs: [{ name: 'tmp', shape: ['batch', 75, 'time'], dtype: 'float32' }],
    normalisation: { ecg: 'lead-range', tmp: 'vm-affine' },
    files: [{ path: 'model.onnx', role: 'model', sha256: 'a'.repeat(64), bytes: 1, dtype: 'fp32' }],
    metrics: {},
    training: { dataset: 'x', seed: 1, epochs: 1, backend: 'wasm', commit: 'unknown' },
    ...(inDistribution === undefined ? {} : { inDistribution }),
  });

  it('round-trips fitted statistics through JSON and stays optional', () => {
    const parsed = parseManifest(JSON.parse(JSON.stringify(manifest(stats))));
    expect(parsed.inDistribution).toEqual(JSON.parse(JSON.stringify(stats)));
    expect(parseManifest(manifest(undefined)).inDistribution).toBeUndefined();
  });

  it('rejects statistics whose sizes disagree, or bands out of order', () => {
    expect(() => parseManifest(manifest({ ...stats, mean: stats.mean.slice(1) }))).toThrow(
      /one value per feature/,
    );
    expect(() => parseManifest(manifest({ ...stats, unusual: stats.threshold + 1 }))).toThrow(/unusual/);
    expect(() => parseManifest(manifest({ ...stats, scale: stats.scale.map(() => 0) }))).toThrow(
      /inDistribution/,
    );
  });
});
