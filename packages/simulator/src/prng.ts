/**
 * @module
 * Counter-based randomness: every sample's generator is a pure function of (seed, index, stream), so a
 * sample's bytes never depend on which worker made it or in what order.
 *
 * The key is mixed with a murmur3-style finaliser into the 128-bit state of sfc32 (Chris Doty-Humphrey's
 * small fast counting generator), which is then warmed up for 12 draws.
 */

/** Independent streams drawn from one (seed, index): physics and measurement noise stay decoupled,
 * so switching noise on or off never changes the simulated heart. Streams from `apDraw` up are the
 * sample's action-potential redraws: redraw k ≥ 1 (SimulateOptions.apDraw) uses stream apDraw + k − 1. */
export const STREAM = { physics: 0, noise: 1, apDraw: 2 } as const;

export interface Prng {
  /** Uniform in [0, 1) with 32 random bits. */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The generator of sample `index` under `seed` (both unsigned 32-bit integers).
 * @example
 * const rng = samplePrng(42, 7, STREAM.physics);
 * const cv = rng.uniform(0.4, 0.8);
 */
export function samplePrng(seed: number, index: number, stream = 0): Prng {
  let a = fmix((seed ^ 0x9e3779b9) >>> 0);
  let b = fmix((a ^ Math.imul(index >>> 0, 0x85ebca6b) ^ 0x632be5ab) >>> 0);
  let c = fmix((b ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0);
  let d = fmix((a + b + c + 0x27d4eb2f) >>> 0);
  let spare: number | undefined;
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const next = (): number => u32() / 4294967296;
  return {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (n) => Math.floor(next() * n),
    normal: () => {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      const u = 1 - next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}
