/**
 * @module
 * The live extractor on the real PTB record s0010_re replayed in blocks: the same 13 beats as the whole
 * record gives, each handed out once its window has come, at 1 kHz and at 500 Hz from 8 leads; the
 * lookahead's trade; a stream cut mid-window; and the errors for blocks that cannot be used.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName } from '../layout.ts';
import type { Recording } from '../recording/recording.ts';
import { resample } from '../recording/resample.ts';
import { parseWfdb } from '../recording/wfdb.ts';
import { extractRecordingBeats } from './extract.ts';
import { createLiveBeatExtractor, type LiveBeatEvent, type LiveBeatExtractorOptions } from './live.ts';

const REAL = new URL('../../../simulator/assets/real-ecg/', import.meta.url);
const recording = parseWfdb(
  readFileSync(new URL('s0010_re.hea', REAL)),
  { 's0010_re.dat': readFileSync(new URL('s0010_re.dat', REAL)) },
  's0010_re.hea',
);
const reference: number[] = JSON.parse(readFileSync(new URL('s0010_re.qrs.json', REAL), 'utf8')).qrsOnsetsMs;
const offline = extractRecordingBeats(recording);

interface Arrived {
  readonly event: LiveBeatEvent;
  /** ms of signal received when it was handed out (Infinity: by flush). */
  readonly receivedMs: number;
}

/** Replays `rec` in blocks of `blockMs`, then flushes. */
function replay(
  rec: Recording,
  blockMs: number,
  options: Omit<LiveBeatExtractorOptions, 'rate'> = {},
  leads: readonly LeadName[] = LEAD_NAMES,
): Arrived[] {
  const live = createLiveBeatExtractor({ rate: rec.rate, ...options });
  const n = Math.round((blockMs * rec.rate) / 1000);
  const out: Arrived[] = [];
  for (let s = 0; s < rec.length; s += n) {
    const block = Object.fromEntries(leads.map((name) => [name, rec.leads[name]!.subarray(s, s + n)]));
    for (const event of live.push(block)) out.push({ event, receivedMs: live.receivedMs });
  }
  for (const event of live.flush()) out.push({ event, receivedMs: Number.POSITIVE_INFINITY });
  return out;
}

const beatsOf = (arrived: readonly Arrived[]) =>
  arrived.flatMap(({ event, receivedMs }) => (event.type === 'beat' ? [{ ...event.beat, receivedMs }] : []));

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('live beats of s0010_re replayed in blocks', () => {
  it('are the whole record’s 13 beats, each handed out within a hop and a block of its window’s end', () => {
    const arrived = replay(recording, 40);
    const beats = beatsOf(arrived);
    expect(arrived.filter((a) => a.event.type === 'skipped')).toEqual([]);
    expect(beats).toHaveLength(13);
    beats.forEach((beat, i) => {
      const whole = offline.beats[i]!;
      expect(Math.abs(beat.onsetMs - whole.onsetMs)).toBeLessThanOrEqual(1);
      expect(beat.rrMs === null).toBe(whole.rrMs === null);
      if (whole.rrMs !== null) expect(Math.abs(beat.rrMs! - whole.rrMs)).toBeLessThanOrEqual(2);
      expect(beat.window.shape).toEqual([1, 12, 500]);
      const end = beat.startMs + 500;
      expect(beat.receivedMs).toBeGreaterThanOrEqual(end);
      expect(beat.receivedMs).toBeLessThanOrEqual(end + 100 + 40);
      // The zero-phase filter's edge: the last samples move by up to ~0.3 mV as later signal comes.
      if (beat.onsetMs === whole.onsetMs)
        expect(maxDiff(beat.window.data, whole.window.data)).toBeLessThan(0.35);
    });
  });

  it('waits lookaheadMs after each window: 1000 ms give the whole record’s windows within 0.05 mV', () => {
    const beats = beatsOf(replay(recording, 20, { lookaheadMs: 1000 }));
    expect(beats).toHaveLength(13);
    for (const [i, beat] of beats.entries()) {
      // Beats within 1000 ms of the record's end come with the flush (receivedMs Infinity).
      expect(beat.receivedMs).toBeGreaterThanOrEqual(beat.startMs + 500 + 1000);
      const whole = offline.beats[i]!;
      if (beat.onsetMs === whole.onsetMs)
        expect(maxDiff(beat.window.data, whole.window.data)).toBeLessThan(0.05);
    }
  });

  it('finds the reference beats at 500 Hz from I, II and V1–V6, deriving the other four', () => {
    const leads: LeadName[] = ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
    const down = resample(
      leads.map((name) => recording.leads[name]!),
      1000,
      500,
    );
    const rec: Recording = {
      ...recording,
      rate: 500,
      length: down[0]!.length,
      leads: Object.fromEntries(leads.map((name, i) => [name, down[i]!])),
    };
    const onsets = beatsOf(replay(rec, 32, {}, leads)).map((b) => b.onsetMs);
    expect(onsets).toHaveLength(13);
    for (const [i, onset] of onsets.entries()) expect(Math.abs(onset - reference[i]!)).toBeLessThanOrEqual(5);
  });

  it('reports the beat whose window the stream cut short as near_end, after the others', () => {
    const cut: Recording = {
      ...recording,
      length: 9600,
      leads: Object.fromEntries(LEAD_NAMES.map((name) => [name, recording.leads[name]!.subarray(0, 9600)])),
    };
    const arrived = replay(cut, 40);
    expect(beatsOf(arrived)).toHaveLength(12);
    const last = arrived.at(-1)!;
    expect(last.receivedMs).toBe(Number.POSITIVE_INFINITY);
    expect(last.event.type).toBe('skipped');
    if (last.event.type === 'skipped') {
      expect(last.event.skipped.reason).toBe('near_end');
      expect(Math.abs(last.event.skipped.atMs - 9405)).toBeLessThanOrEqual(2);
      expect(last.event.skipped.detail).toMatch(/stream ended at 9600 ms/);
    }
  });

  it('waits through a flat start (leads not yet on) and finds the beats after it', () => {
    const flat = 2000;
    const rec: Recording = {
      ...recording,
      length: recording.length + flat,
      leads: Object.fromEntries(
        LEAD_NAMES.map((name) => {
          const data = new Float32Array(recording.length + flat);
          data.set(recording.leads[name]!, flat);
          return [name, data];
        }),
      ),
    };
    const onsets = beatsOf(replay(rec, 40)).map((b) => b.onsetMs - flat);
    // The step where the leads come on may itself be taken for a QRS; every beat after it is found.
    const after = onsets.filter((onset) => onset >= 0);
    expect(after).toHaveLength(13);
    for (const [i, onset] of after.entries()) expect(Math.abs(onset - reference[i]!)).toBeLessThanOrEqual(5);
    expect(onsets.length - after.length).toBeLessThanOrEqual(1);
  });
});

describe('unusable live input', () => {
  const block = (n: number, leads: readonly string[] = LEAD_NAMES) =>
    Object.fromEntries(leads.map((name) => [name, new Float32Array(n)]));

  it('is an InputError naming what is wrong', () => {
    expect(() => createLiveBeatExtractor({ rate: 100 })).toThrow(/100 Hz is outside 250/);
    expect(() => createLiveBeatExtractor({ rate: 1000, hopMs: 0 })).toThrow(/hopMs/);
    expect(() => createLiveBeatExtractor({ rate: 1000, lookaheadMs: -1 })).toThrow(/lookaheadMs/);
    expect(() => createLiveBeatExtractor({ rate: 1000, historyMs: 1000 })).toThrow(/historyMs/);
    const cases: [Record<string, ArrayLike<number>>[], RegExp][] = [
      [[block(10, ['I', 'II', 'V1'])], /first block lacks V2, V3, V4, V5, V6/],
      [[block(10, [...LEAD_NAMES, 'X'])], /unknown lead X/],
      [[block(10), block(10, ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'])], /a block has leads/],
      [[{ ...block(10), V3: new Float32Array(9) }], /lead V3 has 9 samples in a block, lead I 10/],
      [
        [block(10), { ...block(5), aVF: Float32Array.of(0, 0, Number.NaN, 0, 0) }],
        /aVF has no valid value at 12\.0 ms/,
      ],
    ];
    for (const [blocks, message] of cases) {
      const live = createLiveBeatExtractor({ rate: 1000 });
      expect(() => {
        for (const b of blocks) live.push(b);
      }).toThrow(message);
      try {
        for (const b of blocks) createLiveBeatExtractor({ rate: 1000 }).push(b);
      } catch (err) {
        expect(err).toBeInstanceOf(InputError);
      }
    }
  });
});
