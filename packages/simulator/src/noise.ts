/**
 * @module
 * Measurement noise N of X = A(V) + N, added to the electrode potentials only (Vm stays clean: it is the
 * target). All off by default; each part is opt-in:
 * - white Gaussian noise at a signal-to-noise ratio (dB), per electrode: σ² = var(channel) / 10^(SNR/10);
 * - baseline wander: two sinusoids per electrode, 0.05–0.5 Hz, random phase, amplitude up to
 *   `baselineWanderMv`;
 * - mains hum: a 50 or 60 Hz sinusoid per electrode, random phase, amplitude up to `mainsMv`.
 */

import { N_ELECTRODES, STEP_MS } from '@ecg-tmp/core';
import type { Prng } from './prng.ts';

export interface NoiseOptions {
  /** White-noise SNR in dB; undefined = no white noise. */
  readonly snrDb?: number;
  /** Peak baseline wander per electrode (mV); 0 = none. */
  readonly baselineWanderMv?: number;
  /** Mains frequency (Hz). */
  readonly mainsHz?: 50 | 60;
  /** Peak mains hum per electrode (mV); 0 = none. */
  readonly mainsMv?: number;
}

/** Adds noise in place to time-major (steps × 10) electrode potentials. */
export function addNoise(electrodes: Float64Array, steps: number, options: NoiseOptions, rng: Prng): void {
  const E = N_ELECTRODES;
  const { snrDb, baselineWanderMv = 0, mainsHz = 50, mainsMv = 0 } = options;
  for (let e = 0; e < E; e++) {
    let mean = 0;
    for (let t = 0; t < steps; t++) mean += electrodes[t * E + e]!;
    mean /= steps;
    let variance = 0;
    for (let t = 0; t < steps; t++) variance += (electrodes[t * E + e]! - mean) ** 2;
    variance /= steps;
    const sigma = snrDb === undefined ? 0 : Math.sqrt(variance / 10 ** (snrDb / 10));
    const wander = [0, 1].map(() => ({
      a: baselineWanderMv * rng.uniform(0.25, 0.5),
      f: rng.uniform(0.05, 0.5) / 1000,
      p: rng.uniform(0, 2 * Math.PI),
    }));
    const humA = mainsMv * rng.uniform(0.5, 1);
    const humP = rng.uniform(0, 2 * Math.PI);
    for (let t = 0; t < steps; t++) {
      const ms = t * STEP_MS;
      let v = sigma > 0 ? sigma * rng.normal() : 0;
      for (const w of wander) v += w.a * Math.sin(2 * Math.PI * w.f * ms + w.p);
      if (humA > 0) v += humA * Math.sin((2 * Math.PI * mainsHz * ms) / 1000 + humP);
      electrodes[t * E + e]! += v;
    }
  }
}
