import { describe, expect, it } from 'vitest';
import { STREAM, samplePrng } from './prng.ts';

const draws = (seed: number, index: number, stream = 0) => {
  const r = samplePrng(seed, index, stream);
  return Array.from({ length: 8 }, () => r.next());
};

describe('samplePrng', () => {
  it('is a pure function of (seed, index, stream)', () => {
    expect(draws(42, 7)).toEqual(draws(42, 7));
    expect(draws(42, 7)).not.toEqual(draws(43, 7));
    expect(draws(42, 7)).not.toEqual(draws(42, 8));
    expect(draws(42, 7, STREAM.physics)).not.toEqual(draws(42, 7, STREAM.noise));
  });

  it('gives uniform draws and standard normals', () => {
    const r = samplePrng(1, 2);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    let u = 0;
    for (let i = 0; i < n; i++) {
      u += r.next();
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(u / n).toBeCloseTo(0.5, 1);
    expect(s / n).toBeCloseTo(0, 1);
    expect(s2 / n).toBeCloseTo(1, 1);
  });
});
