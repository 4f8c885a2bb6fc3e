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
    const options = { seed: 1, count: 200, split: 'test', pairs: 4, draws: 4, drawBase: 0 } as const;
    const [drawn, fixed] = measureApBound(sim, { ...options, ap: ['drawn', 'fixed'] });
    expect(drawn!.pairs).toBe(4);
    expect(drawn!.singleDraw.r2).toBeLessThan(drawn!.bound.r2);
    expect(drawn!.bound.r2).toBeLessThan(drawn!.boundInfiniteK);
    expect(drawn!.boundInfiniteK).toBeLessThan(1);
    expect(fixed!.bound.r2).toBeGreaterThan(drawn!.bound.r2);
    expect(fixed!.bound.r2).toBeCloseTo(1, 12);
    expect(fixed!.singleDraw.r2).toBe(1);
    const [again] = measureApBound(sim, { ...options, ap: ['drawn'] });
    expect({ ...again!, seconds: 0 }).toEqual({ ...drawn!, seconds: 0 });
  });
});
