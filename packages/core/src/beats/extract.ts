/**
 * @module
 * From a 12-lead 1 kHz recording to beats the models can take: filter (filter.ts), detect each QRS and
 * place its onset (qrs.ts), and cut a [12, 500] window starting QRS_ONSET_IN_WINDOW_MS before the onset
 * — where QRS onset falls in the simulator's windows, so a real beat is aligned like the training data.
 * Each lead of a window is shifted so its isoelectric level (the 10 ms before the window) is 0 mV, as
 * the simulator's leads are before activation. Beats whose window would leave the record, or whose onset
 * cannot be placed for noise, are reported as skipped with the reason.
 */

import { InputError } from '../errors.ts';
import { expectChannels, N_LEADS, N_STEPS, type Signal, STEP_MS, signal } from '../layout.ts';
import { type Recording, toModelLayout } from '../recording/recording.ts';
import { createEcgFilter, type EcgFilterOptions } from './filter.ts';
import { detectQrs, onsetVelocity, qrsOnset } from './qrs.ts';

/**
 * Where the QRS onset (qrs.ts's rule) falls in the simulator's 500 ms windows, ms from the window's
 * start. Measured by packages/simulator/scripts/qrs-onset.ts (qrsOnsetInWindow) over 2000 windows of
 * the training set (seed 1, data version 3): median 3 ms, 10–90% 0–10 ms, 1–99% −2–42 ms, max 74 ms;
 * by class (median, 10–90%): normal 3 (1–7), rbbb 3 (1–7), scar 3 (1–7), lbbb 0 (−2–2), ectopic 7
 * (1–35) — an ectopic beat spreads slowly from one site, so its velocity takes longer to reach 8% of
 * its peak. (The 40 Hz low-pass lets the onset fall a few ms before activation starts at 0 ms.) The
 * simulator starts activation at 0 ms, so a real beat's window starts this long before its onset.
 */
export const QRS_ONSET_IN_WINDOW_MS = 3;
/** Samples before a window whose mean is each lead's isoelectric level. */
const ISOELECTRIC_MS = 10;
/** The span around a detection searched for its QRS (qrsOnset), ms before and after the detector's mark. */
const ONSET_BEFORE_MARK_MS = 60;
const ONSET_AFTER_MARK_MS = 100;
/** Shortest recording worth searching: one window and the detector's margins. */
export const MIN_RECORDING_MS = 1000;
/** Below this peak-to-peak in every lead (mV) a recording is flat: nothing to detect. */
const FLAT_MV = 0.01;

export const BEAT_SKIP_REASONS = ['near_start', 'near_end', 'noisy'] as const;
export type BeatSkipReason = (typeof BEAT_SKIP_REASONS)[number];

/** One beat, ready for a model. */
export interface Beat {
  /** QRS onset, ms from the record's start. */
  readonly onsetMs: number;
  /** The window's first sample, ms from the record's start: onsetMs − QRS_ONSET_IN_WINDOW_MS. */
  readonly startMs: number;
  /** From the previous detected QRS onset (skipped beats included), ms; null for the first. */
  readonly rrMs: number | null;
  /** [1, 12, 500] mV at 1 kHz, LEAD_NAMES order, filtered and each lead's isoelectric level at 0. */
  readonly window: Signal;
  /** Median spatial velocity around the beat over its QRS peak velocity (0 clean … 1 all noise). */
  readonly noise: number;
}

/** A detected QRS that gave no beat, and why. */
export interface SkippedBeat {
  /** Where it was detected (its onset when placed, else the detector's mark), ms from the record's start. */
  readonly atMs: number;
  readonly reason: BeatSkipReason;
  /** The reason in words, with the numbers. */
  readonly detail: string;
}

export interface BeatExtraction {
  readonly beats: readonly Beat[];
  readonly skipped: readonly SkippedBeat[];
  /** The whole recording after filtering, [1, 12, T] mV (for drawing the strip). */
  readonly filtered: Signal;
}

export interface BeatExtractorOptions {
  /** The filter's options (its rate is always 1 kHz); false to take the signal as it is. */
  readonly filter?: Omit<EcgFilterOptions, 'rateHz'> | false;
  /** Largest `noise` a beat may have (0–1). */
  readonly maxNoise?: number;
}

export const BEAT_EXTRACTOR_DEFAULTS = {
  filter: {},
  maxNoise: 0.06,
} as const satisfies Required<BeatExtractorOptions>;

/** Beats of a [1, 12, T] 1 kHz ECG (mV). */
export type BeatExtractor = (ecg: Signal) => BeatExtraction;

/**
 * A beat extractor: the filter is designed once here.
 * Throws InputError for a signal that is not [1, 12, T] ('bad_shape'), shorter than MIN_RECORDING_MS
 * or flat ('bad_recording'), or holding a non-finite value ('bad_value').
 * @example
 * const extract = createBeatExtractor({ filter: { mainsHz: [50] } });
 * const { beats, skipped } = extract(toModelLayout(recording).ecg);
 * beats[0].window; // [1, 12, 500], onset at QRS_ONSET_IN_WINDOW_MS
 */
export function createBeatExtractor(options: BeatExtractorOptions = {}): BeatExtractor {
  const { filter, maxNoise } = { ...BEAT_EXTRACTOR_DEFAULTS, ...options };
  if (!(maxNoise >= 0 && maxNoise <= 1)) {
    throw new InputError('bad_value', `beats: maxNoise must be from 0 to 1, got ${maxNoise}`);
  }
  const applyFilter = filter === false ? (ecg: Signal) => ecg : createEcgFilter({ ...filter, rateHz: 1000 });
  return function extractBeats(ecg: Signal): BeatExtraction {
    expectChannels(ecg, N_LEADS, 'beats: ecg');
    const [batch, , T] = ecg.shape;
    if (batch !== 1)
      throw new InputError('bad_shape', `beats: ecg must hold one recording, got a batch of ${batch}`);
    if (T * STEP_MS < MIN_RECORDING_MS) {
      throw new InputError(
        'bad_recording',
        `beats: the recording is ${T * STEP_MS} ms long; at least ${MIN_RECORDING_MS} ms are needed to find a beat`,
      );
    }
    const bad = ecg.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new InputError(
        'bad_value',
        `beats: lead ${Math.floor(bad / T) + 1} has no valid value at ${bad % T} ms`,
      );
    }
    let range = 0;
    for (let l = 0; l < N_LEADS; l++) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let t = 0; t < T; t++) {
        const v = ecg.data[l * T + t]!;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      range = Math.max(range, hi - lo);
    }
    if (range < FLAT_MV) {
      throw new InputError(
        'bad_recording',
        `beats: the recording is flat (largest peak-to-peak ${range.toFixed(4)} mV over all leads); no QRS to find`,
      );
    }

    const filtered = applyFilter(ecg);
    const x = filtered.data;
    const velocity = onsetVelocity(x, T);
    const beats: Beat[] = [];
    const skipped: SkippedBeat[] = [];
    let lastOnset: number | undefined;
    for (const mark of detectQrs(x, T)) {
      const placed = qrsOnset(velocity, mark - ONSET_BEFORE_MARK_MS, mark + ONSET_AFTER_MARK_MS);
      if (placed === undefined) {
        const reason = mark < 150 ? 'near_start' : 'noisy';
        skipped.push({
          atMs: mark * STEP_MS,
          reason,
          detail:
            reason === 'near_start'
              ? 'the QRS starts before the recording does'
              : 'no quiet baseline in the 150 ms before the QRS peak: its onset cannot be placed',
        });
        continue;
      }
      const { onset, peak } = placed;
      const rrMs = lastOnset === undefined ? null : (onset - lastOnset) * STEP_MS;
      lastOnset = onset;
      const start = onset - QRS_ONSET_IN_WINDOW_MS;
      if (start - ISOELECTRIC_MS < 0) {
        skipped.push({
          atMs: onset * STEP_MS,
          reason: 'near_start',
          detail: `onset at ${onset * STEP_MS} ms leaves no ${ISOELECTRIC_MS + QRS_ONSET_IN_WINDOW_MS} ms before it`,
        });
        continue;
      }
      if (start + N_STEPS > T) {
        skipped.push({
          atMs: onset * STEP_MS,
          reason: 'near_end',
          detail: `the ${N_STEPS} ms window from ${start * STEP_MS} ms runs past the recording's end at ${T * STEP_MS} ms`,
        });
        continue;
      }
      const noise = median(velocity.subarray(Math.max(0, onset - 200), start + N_STEPS)) / velocity[peak]!;
      if (noise > maxNoise) {
        skipped.push({
          atMs: onset * STEP_MS,
          reason: 'noisy',
          detail: `noise ${noise.toFixed(3)} (median spatial velocity / QRS peak) is over ${maxNoise}`,
        });
        continue;
      }
      const window = new Float32Array(N_LEADS * N_STEPS);
      for (let l = 0; l < N_LEADS; l++) {
        let level = 0;
        for (let t = start - ISOELECTRIC_MS; t < start; t++) level += x[l * T + t]!;
        level /= ISOELECTRIC_MS;
        for (let t = 0; t < N_STEPS; t++) window[l * N_STEPS + t] = x[l * T + start + t]! - level;
      }
      beats.push({
        onsetMs: onset * STEP_MS,
        startMs: start * STEP_MS,
        rrMs,
        window: signal(window, [1, N_LEADS, N_STEPS], 'beat window'),
        noise,
      });
    }
    return { beats, skipped, filtered };
  };
}

/**
 * The beats of a recording at any accepted rate: toModelLayout (12 leads, 1 kHz; its InputErrors for a
 * rate out of range, missing leads or gaps), then a default extractor.
 * @example
 * const { beats, skipped } = extractRecordingBeats(parseWfdb(header, files, 's0010_re.hea'));
 */
export function extractRecordingBeats(recording: Recording, options?: BeatExtractorOptions): BeatExtraction {
  return createBeatExtractor(options)(toModelLayout(recording).ecg);
}

/** Padding around a window measured alone, ms: the filter's and the onset search's reach. */
const WINDOW_PAD_MS = 1000;

/**
 * A window's QRS is searched in its first 250 ms: a simulated window's activation starts at 0 ms and
 * the widest QRS lasts ~220 ms, while over all 500 ms the rule lands on the T wave of ~1% of LBBB
 * windows (a T over 3× faster than the QRS).
 */
const WINDOW_QRS_SPAN_MS = 250;

/**
 * Where the extractor would place the QRS onset in one [1, 12, T] window (ms from its start), the
 * QRS searched in its first 250 ms and the window held at its first and last values beyond its ends —
 * what a simulated window is: nothing before activation. How QRS_ONSET_IN_WINDOW_MS was measured;
 * undefined when no onset can be placed.
 * @example
 * qrsOnsetInWindow(signal(leadsFromElectrodes(sample.electrodes, 500), [1, 12, 500])); // 3 (ms)
 */
export function qrsOnsetInWindow(
  window: Signal,
  options: Pick<BeatExtractorOptions, 'filter'> = {},
): number | undefined {
  expectChannels(window, N_LEADS, 'beats: window');
  const [, , T] = window.shape;
  const P = WINDOW_PAD_MS / STEP_MS;
  const n = T + 2 * P;
  const padded = new Float32Array(N_LEADS * n);
  for (let l = 0; l < N_LEADS; l++) {
    const lead = window.data.subarray(l * T, (l + 1) * T);
    padded.fill(lead[0]!, l * n, l * n + P);
    padded.set(lead, l * n + P);
    padded.fill(lead[T - 1]!, l * n + P + T, (l + 1) * n);
  }
  const filter = options.filter ?? BEAT_EXTRACTOR_DEFAULTS.filter;
  const x =
    filter === false
      ? padded
      : createEcgFilter({ ...filter, rateHz: 1000 })(signal(padded, [1, N_LEADS, n])).data;
  const velocity = onsetVelocity(x, n);
  const placed = qrsOnset(velocity, P, P + Math.min(T, WINDOW_QRS_SPAN_MS / STEP_MS));
  return placed === undefined ? undefined : (placed.onset - P) * STEP_MS;
}

function median(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)]!;
}
