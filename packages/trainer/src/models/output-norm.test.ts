import { samplePrng } from '@ecg-tmp/simulator';
import { describe, expect, it } from 'vitest';
import { fitOutputNorm } from './output-norm.ts';

const D = 12;

/** n tokens that are exactly γ ⊙ LN(x) + β for random x. */
function exactTokens(n: number, gamma: number[], beta: number[], seed: number): Float32Array {
  const rng = samplePrng(seed, 0, 1);
  const out = new Float32Array(n * D);
  const x = new Float64Array(D);
  for (let t = 0; t < n; t++) {
    let m = 0;
    for (let s = 0; s < D; s++) {
      x[s] = rng.uniform(-1, 1) + (s % 3);
      m += x[s]!;
    }
    m /= D;
    let v = 0;
    for (let s = 0; s < D; s++) v += (x[s]! - m) ** 2;
    const inv = 1 / Math.sqrt(v / D + 1e-5);
    for (let s = 0; s < D; s++) out[t * D + s] = gamma[s]! * (x[s]! - m) * inv + beta[s]!;
  }
  return out;
}

describe('fitOutputNorm', () => {
  // Bimodal, like the fitted output norm on Vm tokens: some sites scale one way, some the other.
  const gamma = Array.from({ length: D }, (_, s) => (s % 2 === 0 ? 0.8 : -1.3) + 0.05 * s);
  const beta = Array.from({ length: D }, (_, s) => (s % 3 === 0 ? 0.2 : 0.6) - 0.01 * s);

  it('reproduces tokens the layer can produce exactly', () => {
    // E has a local minimum per sign pattern of γ, so the fit need not find these γ, β themselves;
    // what the trainer needs is an output layer that can express the tokens.
    const fit = fitOutputNorm(exactTokens(400, gamma, beta, 3), D);
    expect(fit.r2.final).toBeGreaterThan(0.95);
  });

  it('descent never ends worse than the alternation it starts from, on noisy tokens', () => {
    const tokens = exactTokens(300, gamma, beta, 5);
    const rng = samplePrng(9, 0, 1);
    for (let i = 0; i < tokens.length; i++) tokens[i]! += rng.uniform(-0.3, 0.3);
    const fit = fitOutputNorm(tokens, D);
    expect(fit.r2.final).toBeGreaterThanOrEqual(fit.r2.alternation);
    expect(fit.r2.final).toBeGreaterThan(0.5);
    expect(fit.r2.final).toBeLessThan(0.999);
    expect(fit.steps).toBeGreaterThan(0);
  });

  it('is deterministic', () => {
    const tokens = exactTokens(100, gamma, beta, 7);
    const a = fitOutputNorm(tokens, D);
    const b = fitOutputNorm(tokens, D);
    expect(Array.from(a.gamma)).toEqual(Array.from(b.gamma));
    expect(Array.from(a.beta)).toEqual(Array.from(b.beta));
  });

  it('stays finite when a site never changes', () => {
    const tokens = exactTokens(100, gamma, beta, 11);
    for (let t = 0; t < 100; t++) tokens[t * D + 4] = 0.25;
    const fit = fitOutputNorm(tokens, D);
    for (const v of [...fit.gamma, ...fit.beta]) expect(Number.isFinite(v)).toBe(true);
    expect(fit.r2.final).toBeGreaterThan(0.9);
  });

  it('rejects bad input with a message naming the problem', () => {
    expect(() => fitOutputNorm(new Float32Array(25), D)).toThrow(/not a whole number of 12-site tokens/);
    expect(() => fitOutputNorm(new Float32Array(D), D)).toThrow(/at least 2 tokens/);
    const nan = exactTokens(10, gamma, beta, 1);
    nan[3 * D + 5] = Number.NaN;
    expect(() => fitOutputNorm(nan, D)).toThrow(/token 3 site 5 is NaN/);
  });
});
