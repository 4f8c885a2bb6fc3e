/**
 * @module
 * The beat extractor under hostile signals (fast-check, seeded): random lengths, flat stretches,
 * spikes, steps, huge and tiny values, sines at any frequency, noise and NaN. Every case returns a
 * well-formed extraction — windows of [1, 12, 500] inside the record, onsets ascending, skips with a
 * known reason — or an InputError, quickly, never another exception.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../../test/reliability.ts';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName, N_LEADS, N_STEPS, signal } from '../layout.ts';
import type { Recording } from '../recording/recording.ts';
import {
  BEAT_SKIP_REASONS,
  type BeatExtraction,
  createBeatExtractor,
  extractRecordingBeats,
} from './extract.ts';

const RUNS = 300;
/** Per case; generous because test machines are shared. */
const SLOW_MS = 3000;

const piece = fc.record({
  kind: fc.constantFrom('flat', 'sine', 'noise', 'spike', 'step', 'nan', 'huge'),
  length: fc.integer({ min: 1, max: 1500 }),
  amplitude: fc.double({ min: 1e-6, max: 20, noNaN: true }),
  hz: fc.double({ min: 0.01, max: 499, noNaN: true }),
  lead: fc.integer({ min: -1, max: N_LEADS - 1 }),
});

/** A record of 12 leads built from pieces placed end to end (lead −1: all leads). */
const record = fc.array(piece, { minLength: 1, maxLength: 8 }).map((pieces) => {
  const T = pieces.reduce((n, p) => n + p.length, 0);
  const data = new Float32Array(N_LEADS * T);
  let at = 0;
  for (const p of pieces) {
    for (let l = 0; l < N_LEADS; l++) {
      if (p.lead >= 0 && p.lead !== l) continue;
      for (let t = 0; t < p.length; t++) {
        const v =
          p.kind === 'flat'
            ? p.amplitude
            : p.kind === 'sine'
              ? p.amplitude * Math.sin((2 * Math.PI * p.hz * t) / 1000)
              : p.kind === 'noise'
                ? p.amplitude * (((t * 7919 + l * 104_729) % 1000) / 500 - 1)
                : p.kind === 'spike'
                  ? t === 0
                    ? p.amplitude * 100
                    : 0
                  : p.kind === 'step'
                    ? t < p.length / 2
                      ? -p.amplitude
                      : p.amplitude
                    : p.kind === 'nan'
                      ? Number.NaN
                      : 1e30;
        data[l * T + at + t] = v;
      }
    }
    at += p.length;
  }
  return signal(data, [1, N_LEADS, T]);
});

function violation(out: BeatExtraction, T: number): string | undefined {
  let last = Number.NEGATIVE_INFINITY;
  for (const b of out.beats) {
    if (b.window.shape.join() !== `1,${N_LEADS},${N_STEPS}`) return `window shape ${b.window.shape}`;
    if (!(b.startMs >= 0 && b.startMs + N_STEPS <= T)) return `window ${b.startMs} outside 0–${T}`;
    if (!(b.onsetMs > last)) return `onsets not ascending at ${b.onsetMs}`;
    if (b.window.data.some((v) => !Number.isFinite(v))) return 'non-finite window value';
    if (!(b.noise >= 0)) return `noise ${b.noise}`;
    last = b.onsetMs;
  }
  for (const s of out.skipped) {
    if (!(BEAT_SKIP_REASONS as readonly string[]).includes(s.reason)) return `reason ${s.reason}`;
    if (!(s.atMs >= 0 && s.atMs < T)) return `skip at ${s.atMs} outside 0–${T}`;
  }
  return undefined;
}

describe('beat extraction under hostile signals', () => {
  it(`keeps its contract on ${RUNS} random records`, ({ task }) => {
    const extract = createBeatExtractor();
    const failures: string[] = [];
    let cases = 0;
    fc.assert(
      fc.property(record, (ecg) => {
        cases++;
        const started = performance.now();
        let problem: string | undefined;
        try {
          problem = violation(extract(ecg), ecg.shape[2]);
        } catch (err) {
          if (!(err instanceof InputError)) problem = `${(err as Error).name}: ${(err as Error).message}`;
          else if (!err.message.startsWith('beats: '))
            problem = `message '${err.message}' does not say beats`;
        }
        const ms = performance.now() - started;
        if (problem === undefined && ms > SLOW_MS) problem = `took ${ms.toFixed(0)} ms`;
        if (problem !== undefined) failures.push(problem);
      }),
      { numRuns: RUNS, seed: 19_020 },
    );
    reportFigure(task, {
      area: 'bad input',
      what: 'beat extractor: random 12-lead signals (fast-check)',
      count: cases,
      unit: 'signals',
      failures: failures.length,
    });
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it(`keeps its contract on ${RUNS / 3} recordings at any rate, wrong ones included`, ({ task }) => {
    const failures: string[] = [];
    let cases = 0;
    const recording = fc
      .record({
        rate: fc.oneof(
          { arbitrary: fc.constantFrom(250, 360, 500, 1000, 2000), weight: 3 },
          {
            arbitrary: fc.constantFrom(0, -500, 100, 249.9, Number.NaN, Number.POSITIVE_INFINITY, 1e6),
            weight: 1,
          },
        ),
        seconds: fc.integer({ min: 200, max: 4000 }).map((ms) => ms / 1000),
        hz: fc.double({ min: 0.3, max: 3, noNaN: true }),
        // I, II and V1–V6 always (what toModelLayout needs), the other four sometimes.
        derived: fc.subarray(['III', 'aVR', 'aVL', 'aVF'] as LeadName[]),
        missing: fc.option(fc.constantFrom(...LEAD_NAMES), { freq: 10 }),
      })
      .map(({ rate, seconds, hz, derived, missing }): Recording => {
        const leads = [
          ...LEAD_NAMES.filter((n) => !['III', 'aVR', 'aVL', 'aVF'].includes(n)),
          ...derived,
        ].filter((n) => n !== missing);
        const length =
          Number.isFinite(rate) && rate > 0 && rate < 1e5 ? Math.max(1, Math.round(seconds * rate)) : 100;
        const out: Partial<Record<LeadName, Float32Array>> = {};
        leads.forEach((name, l) => {
          // Narrow spikes at `hz` beats per second on a slow sine: QRS-like enough to be detected.
          out[name] = Float32Array.from({ length }, (_, t) => {
            const phase = ((t / rate) * hz) % 1;
            return Math.exp(-(((phase - 0.5) * 40) ** 2)) * (l % 2 ? 1 : -0.7) + 0.2 * Math.sin(t / 50);
          });
        });
        return { rate, length, leads: out, source: 'fuzz', warnings: [] };
      });
    fc.assert(
      fc.property(recording, (rec) => {
        cases++;
        let problem: string | undefined;
        try {
          const out = extractRecordingBeats(rec);
          problem = violation(out, Math.ceil((rec.length * 1000) / rec.rate));
        } catch (err) {
          if (!(err instanceof InputError)) problem = `${(err as Error).name}: ${(err as Error).message}`;
          else if (!/^(beats|fuzz): /.test(err.message)) problem = `message '${err.message}' names neither`;
        }
        if (problem !== undefined) failures.push(problem);
      }),
      { numRuns: RUNS / 3, seed: 19_021 },
    );
    reportFigure(task, {
      area: 'bad input',
      what: 'beat extractor: recordings at random and wrong rates (fast-check)',
      count: cases,
      unit: 'recordings',
      failures: failures.length,
    });
    expect(failures.slice(0, 5)).toEqual([]);
  });
});
