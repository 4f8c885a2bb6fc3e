/**
 * benchmarks/neighbours.ts: the nearest-neighbour search the probes share, against a full sort.
 */
import { describe, expect, it } from 'vitest';
import { nearestNeighbours, zScorer } from '../benchmarks/neighbours.ts';

/** A small seeded generator, so a failure reproduces. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('nearestNeighbours', () => {
  it('finds the k nearest rows, nearest first, as sorting every distance does', () => {
    const next = random(7);
    const width = 5;
    // Values on a coarse grid, so that equal distances occur and their order is tested too.
    const bank = Float32Array.from({ length: 300 * width }, () => Math.round(next() * 4));
    const queries = Float32Array.from({ length: 20 * width }, () => Math.round(next() * 4));
    const found = nearestNeighbours(bank, queries, width, 12);
    expect(found).toHaveLength(20);
    for (const [q, { index, distance }] of found.entries()) {
      const d = Array.from({ length: 300 }, (_, i) => {
        let s = 0;
        for (let f = 0; f < width; f++) s += (queries[q * width + f]! - bank[i * width + f]!) ** 2;
        return s;
      });
      const sorted = Array.from(d.keys()).sort((a, b) => d[a]! - d[b]!);
      expect([...index]).toEqual(sorted.slice(0, 12));
      expect([...distance]).toEqual(sorted.slice(0, 12).map((i) => d[i]!));
    }
  });

  it('keeps the whole bank when asked for more rows than it has', () => {
    const { index } = nearestNeighbours(Float32Array.of(3, 1, 2), Float32Array.of(0), 1, 10)[0]!;
    expect([...index]).toEqual([1, 2, 0]);
  });

  it('names a width that does not divide the arrays', () => {
    expect(() => nearestNeighbours(new Float32Array(7), new Float32Array(4), 2, 1)).toThrow(/rows of 2/);
  });
});

describe('zScorer', () => {
  it('centres and scales each feature by the bank, and only centres a constant one', () => {
    const bank = Float32Array.of(1, 5, 3, 5, 5, 5);
    const z = zScorer(bank, 2);
    expect([...z(bank)].map((v) => Number(v.toFixed(4)))).toEqual([-1.2247, 0, 0, 0, 1.2247, 0]);
    expect([...z(Float32Array.of(3, 7))]).toEqual([0, 2]);
  });
});
