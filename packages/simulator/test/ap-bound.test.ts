import { beforeAll, describe, expect, it } from 'vitest';
import { measureApBound, splitIndices } from '../scripts/ap-bound.ts';
import { createSimulator, type Simulator } from '../src/simulator.ts';

let sim: Simulator;
beforeAll(() => {
  sim = createSimulator();
});

describe('ap-bound', () => {
  it("picks the trainer's split of the synthetic set: disjoint, covering, 80/10/10 per folder", () => {
    const [train, val, test] = (['train', 'val', 'test'] as const).map((s) => splitIndices(sim, 1, 200, s));
    expect([...train!, ...val!, ...test!].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
    expect(val!.length).toBeGreaterThanOrEqual(18);
    expect(val!.length).toBeLessThanOrEqual(22);
    expect(test).toEqual(splitIndices(sim, 1, 200, 'test'));
  });

  it('a short seeded run: single draw < bound < 1 with drawn APs, bound 1 with fixed APs, repeatable', () => {
    const options = { seed: 1, count: 200, split: 'test', pairs: 3, draws: 4, drawBase: 0 } as const;
    const [drawn, fixed] = measureApBound(sim, { ...options, ap: ['drawn', 'fixed'] });
    expect(drawn!.pairs).toBe(3);
    const all = drawn!.allRedrawn;
    expect(all.singleDraw.r2).toBeLessThan(all.bound.r2);
    expect(all.bound.r2).toBeLessThan(all.boundInfiniteK);
    expect(all.boundInfiniteK).toBeLessThan(1);
    // Keeping the upstroke leaves less unknown: both scores rise, still below 1.
    const kept = drawn!.upstrokeKept!;
    expect(kept.boundInfiniteK).toBeGreaterThan(all.boundInfiniteK);
    expect(kept.singleDraw.r2).toBeGreaterThan(all.singleDraw.r2);
    expect(kept.boundInfiniteK).toBeLessThan(1);
    expect(fixed!.allRedrawn.bound.r2).toBeGreaterThan(all.bound.r2);
    expect(fixed!.allRedrawn.bound.r2).toBeCloseTo(1, 12);
    expect(fixed!.allRedrawn.singleDraw.r2).toBe(1);
    expect(fixed!.upstrokeKept).toBeNull();
    const [again] = measureApBound(sim, { ...options, ap: ['drawn'] });
    expect({ ...again!, seconds: 0 }).toEqual({ ...drawn!, seconds: 0 });
  });
});
