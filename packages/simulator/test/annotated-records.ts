/**
 * @module
 * Records of simulated beats with known QRS onsets, for scoring core's beat extraction
 * (beat-detection.test.ts): a heart beating with AP redraws and occasional ectopic beats, a P wave
 * before each sinus beat, white noise, baseline wander and mains hum on top.
 */

import { LEAD_NAMES, leadsFromElectrodes, N_LEADS, N_STEPS, qrsOnsetInWindow, signal } from '@ecg-tmp/core';
import { samplePrng } from '../src/prng.ts';
import type { createSimulator } from '../src/simulator.ts';

export const RECORD_MS = 15_000;
/** Lead-field weights of a P wave (mV), LEAD_NAMES order: axis ~+50°, upright in II, biphasic-ish V1. */
const P_WAVE: Record<(typeof LEAD_NAMES)[number], number> = {
  I: 0.06,
  II: 0.12,
  III: 0.06,
  aVR: -0.09,
  aVL: 0,
  aVF: 0.09,
  V1: 0.04,
  V2: 0.06,
  V3: 0.07,
  V4: 0.07,
  V5: 0.06,
  V6: 0.05,
};

export interface Truth {
  /** Where the window starts: the simulator's activation start. */
  readonly startMs: number;
  /** Its QRS onset by the extractor's own rule on the clean window. */
  readonly onsetMs: number;
  readonly variant: string;
}

/**
 * One record: a heart (sample `record` of seed 5) beating at 600–1100 ms ± 5%, each beat with its AP
 * redrawn (T waves differ beat to beat), and one beat in ten an ectopic one from another heart, 30%
 * premature with a compensatory pause; then noise as given.
 */
export function makeRecord(
  sim: ReturnType<typeof createSimulator>,
  record: number,
  ectopics: readonly number[],
  noise: NoiseLevel,
): { data: Float32Array; truth: Truth[] } {
  const rng = samplePrng(77, record, 0);
  const T = RECORD_MS;
  const data = new Float32Array(N_LEADS * T);
  const truth: Truth[] = [];
  const rr = rng.uniform(600, 1100);
  let at = Math.round(rng.uniform(150, 900));
  for (let k = 0; at + N_STEPS < T; k++) {
    const ectopic = k > 0 && rng.uniform(0, 1) < 0.1;
    if (ectopic) at -= Math.round(0.3 * rr);
    const s = ectopic
      ? sim.simulate(5, ectopics[k % ectopics.length]!)
      : sim.simulate(5, record, { apDraw: k + 1 });
    const leads = leadsFromElectrodes(s.electrodes, N_STEPS);
    const onset = qrsOnsetInWindow(signal(leads, [1, N_LEADS, N_STEPS]));
    truth.push({ startMs: at, onsetMs: at + (onset ?? 0), variant: s.variant });
    const pAt = at - Math.round(rng.uniform(120, 180));
    for (let l = 0; l < N_LEADS; l++) {
      const row = data.subarray(l * T, (l + 1) * T);
      // The window's truncated T wave is tapered to 0 over its last 100 ms (a raised cosine).
      for (let t = 0; t < N_STEPS; t++) {
        const taper = t < N_STEPS - 100 ? 1 : 0.5 * (1 + Math.cos((Math.PI * (t - (N_STEPS - 100))) / 100));
        row[at + t]! += leads[l * N_STEPS + t]! * taper;
      }
      if (ectopic) continue;
      const p = P_WAVE[LEAD_NAMES[l]!];
      for (let t = Math.max(0, pAt - 60); t < pAt + 60; t++)
        row[t]! += p * Math.exp(-(((t - pAt) / 22) ** 2));
    }
    at += Math.round(rr * rng.uniform(0.95, 1.05) * (ectopic ? 1.6 : 1));
  }
  const wander = [0, 1].map(() => ({ f: rng.uniform(0.05, 0.4), p: rng.uniform(0, 2 * Math.PI) }));
  const humPhase = rng.uniform(0, 2 * Math.PI);
  for (let l = 0; l < N_LEADS; l++) {
    const gain = rng.uniform(0.5, 1);
    for (let t = 0; t < T; t++) {
      let v = noise.whiteMv * rng.normal();
      for (const w of wander)
        v += noise.wanderMv * gain * 0.5 * Math.sin((2 * Math.PI * w.f * t) / 1000 + w.p + l);
      v += noise.humMv * gain * Math.sin((2 * Math.PI * noise.humHz * t) / 1000 + humPhase);
      data[l * T + t]! += v;
    }
  }
  return { data, truth };
}

export interface NoiseLevel {
  readonly whiteMv: number;
  readonly wanderMv: number;
  readonly humMv: number;
  readonly humHz: 50 | 60;
}

/** Sample indices (seed 5, from 1000) of ectopic hearts, for makeRecord's ectopic beats. */
export function ectopicSamples(sim: ReturnType<typeof createSimulator>): number[] {
  return Array.from({ length: 60 }, (_, i) => 1000 + i).filter(
    (i) => sim.simulate(5, i).variant === 'ectopic',
  );
}
