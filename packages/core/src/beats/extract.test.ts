/**
 * @module
 * Beat extraction on the real PTB record s0010_re (13 beats in 10 s; reference onsets checked by eye,
 * see its s0010_re.qrs.json), with added wander, hum and noise, at 500 Hz, cut at the ends; and the
 * errors for unusable input.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName, N_LEADS, N_STEPS, type Signal, signal } from '../layout.ts';
import { type Recording, toModelLayout } from '../recording/recording.ts';
import { resample } from '../recording/resample.ts';
import { parseWfdb } from '../recording/wfdb.ts';
import {
  type BeatExtraction,
  createBeatExtractor,
  extractRecordingBeats,
  QRS_ONSET_IN_WINDOW_MS,
  qrsOnsetInWindow,
} from './extract.ts';

const REAL = new URL('../../../simulator/assets/real-ecg/', import.meta.url);
const recording = parseWfdb(
  readFileSync(new URL('s0010_re.hea', REAL)),
  { 's0010_re.dat': readFileSync(new URL('s0010_re.dat', REAL)) },
  's0010_re.hea',
);
const reference: number[] = JSON.parse(readFileSync(new URL('s0010_re.qrs.json', REAL), 'utf8')).qrsOnsetsMs;
const ecg = toModelLayout(recording).ecg;
const T = ecg.shape[2];
const extract = createBeatExtractor();

/** Every detection's time: the beats' onsets and the skipped ones' marks. */
const found = (r: BeatExtraction) => [...r.beats.map((b) => b.onsetMs), ...r.skipped.map((s) => s.atMs)];

/** Beats matched one-to-one within ±tolerance ms. */
function matched(detected: readonly number[], truth: readonly number[], tolerance: number): number {
  const used = new Set<number>();
  return truth.filter((t) => {
    const i = detected.findIndex((d, k) => !used.has(k) && Math.abs(d - t) <= tolerance);
    if (i >= 0) used.add(i);
    return i >= 0;
  }).length;
}

function withNoise(base: Signal, add: (t: number, lead: number) => number): Signal {
  const [, c, n] = base.shape;
  return signal(
    base.data.map((v, i) => v + add(i % n, Math.floor(i / n))),
    [1, c, n],
  );
}

function crop(base: Signal, from: number, to: number): Signal {
  const [, c, n] = base.shape;
  const out = new Float32Array(c * (to - from));
  for (let l = 0; l < c; l++) out.set(base.data.subarray(l * n + from, l * n + to), l * (to - from));
  return signal(out, [1, c, to - from]);
}

/** A seeded uniform generator (mulberry32), for repeatable noise. */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('beats of the real PTB record s0010_re', () => {
  it('finds all 13 reference beats and no other (±50 ms), onsets within 5 ms of the reference', () => {
    const r = extract(ecg);
    expect(r.skipped).toEqual([]);
    expect(r.beats).toHaveLength(reference.length);
    expect(matched(found(r), reference, 50)).toBe(reference.length);
    for (const [k, b] of r.beats.entries())
      expect(Math.abs(b.onsetMs - reference[k]!)).toBeLessThanOrEqual(5);
  });

  it('cuts each beat as the simulator does: 500 ms from QRS_ONSET_IN_WINDOW_MS before onset, level 0 before it', () => {
    const r = extract(ecg);
    expect(r.beats[0]!.rrMs).toBeNull();
    for (const [k, b] of r.beats.entries()) {
      expect(b.window.shape).toEqual([1, N_LEADS, N_STEPS]);
      expect(b.startMs).toBe(b.onsetMs - QRS_ONSET_IN_WINDOW_MS);
      if (k > 0) expect(b.rrMs).toBe(b.onsetMs - r.beats[k - 1]!.onsetMs);
      for (let l = 0; l < N_LEADS; l++) expect(Math.abs(b.window.data[l * N_STEPS]!)).toBeLessThan(0.05);
      // Re-measured alone, the window's onset is where the constant says (the window is the same rule's).
      expect(Math.abs(qrsOnsetInWindow(b.window)! - QRS_ONSET_IN_WINDOW_MS)).toBeLessThanOrEqual(3);
      expect(b.noise).toBeLessThan(0.06);
    }
    expect(r.filtered.shape).toEqual([1, N_LEADS, T]);
  });

  it('finds the same beats under 1 mV of wander, 0.3 mV of 50 Hz hum and 20 µV of white noise', () => {
    const rand = uniform(19);
    const noisy = withNoise(
      ecg,
      (t, l) =>
        Math.sin((2 * Math.PI * 0.2 * t) / 1000 + l) +
        0.3 * Math.sin((2 * Math.PI * 50 * t) / 1000 + 0.5 * l) +
        0.02 * Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand()),
    );
    const r = extract(noisy);
    expect(r.beats).toHaveLength(reference.length);
    for (const [k, b] of r.beats.entries())
      expect(Math.abs(b.onsetMs - reference[k]!)).toBeLessThanOrEqual(5);
  });

  it('finds the same beats in the record at 500 Hz (resampled down, then read as a recording)', () => {
    const leads: Partial<Record<LeadName, Float32Array>> = {};
    for (const name of LEAD_NAMES) leads[name] = resample([recording.leads[name]!], 1000, 500)[0]!;
    const half: Recording = { ...recording, rate: 500, length: leads.I!.length, leads };
    const r = extractRecordingBeats(half);
    expect(r.beats).toHaveLength(reference.length);
    for (const [k, b] of r.beats.entries())
      expect(Math.abs(b.onsetMs - reference[k]!)).toBeLessThanOrEqual(5);
  });

  it('skips, with the reason, beats too close to either end and beats buried in noise', () => {
    const start = reference[0]! - 8;
    const end = reference.at(-1)! + 300;
    const r = extract(crop(ecg, start, end));
    const kept = r.beats.map((b) => b.onsetMs + start);
    expect(matched(kept, reference.slice(1, -1), 5)).toBe(reference.length - 2);
    expect(r.beats).toHaveLength(reference.length - 2);
    const last = r.skipped.find((s) => s.reason === 'near_end');
    expect(last?.atMs).toBeCloseTo(reference.at(-1)! - start, -1);
    expect(last?.detail).toMatch(/runs past the recording's end/);
    expect(r.skipped.map((s) => s.reason)).toEqual(['near_start', 'near_end']);

    const rand = uniform(7);
    const target = reference[6]!;
    const buried = withNoise(ecg, (t) => (Math.abs(t - target) < 700 ? 0.25 * (rand() - 0.5) * 3.46 : 0));
    const b = extract(buried);
    // The burst covers the 6th beat's baseline and all of the 7th: what is detected in it (the beats,
    // or marks in the noise itself) is skipped as noisy, nothing in it kept.
    expect(b.skipped.length).toBeGreaterThanOrEqual(2);
    for (const skip of b.skipped) {
      expect(skip.reason).toBe('noisy');
      expect(Math.abs(skip.atMs - target)).toBeLessThan(800);
    }
    expect(b.skipped.map((s) => s.detail).join('\n')).toMatch(
      /noise 0\.\d+ \(median spatial velocity \/ QRS peak\) is over 0\.06/,
    );
    const rest = reference.filter((_, k) => k !== 5 && k !== 6);
    expect(b.beats).toHaveLength(rest.length);
    expect(
      matched(
        b.beats.map((x) => x.onsetMs),
        rest,
        5,
      ),
    ).toBe(rest.length);
  });
});

describe('unusable input', () => {
  const at = (n: number, fill = 0) => signal(new Float32Array(N_LEADS * n).fill(fill), [1, N_LEADS, n]);

  it('refuses a signal too short, flat, with a gap, of the wrong shape, or a recording at the wrong rate', () => {
    expect(() => extract(crop(ecg, 0, 600))).toThrow(/600 ms long; at least 1000 ms/);
    expect(() => extract(at(5000, 1.2))).toThrow(/flat/);
    const gap = Float32Array.from(crop(ecg, 0, 2000).data);
    gap[3 * 2000 + 100] = Number.NaN;
    expect(() => extract(signal(gap, [1, N_LEADS, 2000]))).toThrow(/lead 4 has no valid value at 100 ms/);
    expect(() => extract(signal(new Float32Array(8 * 2000), [1, 8, 2000]))).toThrow(/expected 12 channels/);
    expect(() => extract(signal(new Float32Array(24 * 2000), [2, N_LEADS, 2000]))).toThrow(/batch of 2/);
    expect(() => extractRecordingBeats({ ...recording, rate: 100 })).toThrow(/100 Hz is outside/);
    expect(() => createBeatExtractor({ maxNoise: 2 })).toThrow(/maxNoise/);
    for (const bad of [
      () => extract(at(10)),
      () => extract(at(5000)),
      () => extractRecordingBeats({ ...recording, rate: 0 }),
    ]) {
      expect(bad).toThrow(InputError);
    }
  });

  it('returns no beats, not an error, for a signal with activity but no QRS (a slow sine)', () => {
    const sine = withNoise(at(5000), (t) => 0.5 * Math.sin((2 * Math.PI * 1 * t) / 1000));
    const r = extract(sine);
    expect(r.beats).toEqual([]);
  });
});
