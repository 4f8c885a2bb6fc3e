/**
 * @module
 * Beats from a live signal — sample blocks as a Web Serial or Bluetooth ECG delivers them — each handed
 * out as soon as its 500 ms window has arrived. createBeatExtractor works on a whole recording (its
 * filter is zero-phase, its detector learns its thresholds from the first 2 s), so this keeps the last
 * few seconds and runs the same extraction over them every `hopMs` of new signal: a beat is the offline
 * extractor's beat, cut from the history, and is handed out once (by its onset) the first time its window
 * is complete. A beat detected late (the detector's search-back over a gap) is handed out late, in order.
 * Browser-safe.
 */

import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName, N_STEPS, STEP_MS } from '../layout.ts';
import { checkRate, type Recording, toModelLayout } from '../recording/recording.ts';
import {
  type Beat,
  type BeatExtraction,
  type BeatExtractorOptions,
  createBeatExtractor,
  MIN_RECORDING_MS,
  type SkippedBeat,
} from './extract.ts';

/** One block of samples: each lead it carries (12, or I, II and V1–V6), all the same length, mV. */
export type SampleBlock = Readonly<Partial<Record<LeadName, ArrayLike<number>>>>;

/** A beat ready for a model, or a detected QRS that gave none; times are ms from the stream's start. */
export type LiveBeatEvent =
  | { readonly type: 'beat'; readonly beat: Beat }
  | { readonly type: 'skipped'; readonly skipped: SkippedBeat };

export interface LiveBeatExtractorOptions extends BeatExtractorOptions {
  /** Samples per second of every lead (250 Hz up, as the readers accept). */
  readonly rate: number;
  /** Extraction runs each time this much new signal has come, ms: the most a beat waits for it. */
  readonly hopMs?: number;
  /** Signal kept and searched, ms: the detector's 2 s of learning, a few beats, and a window. */
  readonly historyMs?: number;
  /**
   * Signal waited for after a window's end, ms. The filter is zero-phase and its 0.5 Hz high-pass
   * reaches about 1 s each way, so a window's samples move as later signal comes, most at its end: on
   * PTB s0010_re a window cut as soon as it is complete differs from the one cut from the whole record
   * by 0.14–0.28 mV at its last sample (by where the hops fall; the QRS is 1.8 mV), and by 0.02 mV with
   * 1000 ms of lookahead; 250 ms do not reliably help.
   */
  readonly lookaheadMs?: number;
}

export const LIVE_BEAT_EXTRACTOR_DEFAULTS = {
  hopMs: 100,
  historyMs: 4000,
  lookaheadMs: 0,
} as const satisfies Partial<LiveBeatExtractorOptions>;

export interface LiveBeatExtractor {
  /** Adds a block; returns what it completed (beats, and QRS that gave none), in time order. */
  push(block: SampleBlock): LiveBeatEvent[];
  /** The stream has ended: what is left, a beat whose window ran past the end as skipped 'near_end'. */
  flush(): LiveBeatEvent[];
  /** Signal received so far, ms. */
  readonly receivedMs: number;
}

/** Two QRS onsets closer than this are one (the detector's refractory period). */
const SAME_BEAT_MS = 200;
const REQUIRED: readonly LeadName[] = ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];

/**
 * A live beat extractor for blocks at `rate` Hz. Throws InputError for a rate out of range, a block
 * whose leads are not 12 or I, II and V1–V6, differ from the first block's, differ in length, or hold a
 * non-finite value.
 * @example
 * const live = createLiveBeatExtractor({ rate: 500 });
 * for await (const block of device) for (const e of live.push(block)) if (e.type === 'beat') show(e.beat);
 * live.flush();
 */
export function createLiveBeatExtractor(options: LiveBeatExtractorOptions): LiveBeatExtractor {
  const { rate, hopMs, historyMs, lookaheadMs, ...extractorOptions } = {
    ...LIVE_BEAT_EXTRACTOR_DEFAULTS,
    ...options,
  };
  checkRate(rate, 'live ECG', 'bad_recording');
  if (!(hopMs > 0)) throw new InputError('bad_value', `live ECG: hopMs must be positive, got ${hopMs}`);
  if (!(lookaheadMs >= 0 && lookaheadMs <= 2000)) {
    throw new InputError('bad_value', `live ECG: lookaheadMs must be from 0 to 2000, got ${lookaheadMs}`);
  }
  if (!(historyMs >= MIN_RECORDING_MS + N_STEPS * STEP_MS)) {
    throw new InputError(
      'bad_value',
      `live ECG: historyMs must be at least ${MIN_RECORDING_MS + N_STEPS * STEP_MS} ms, got ${historyMs}`,
    );
  }
  const extract = createBeatExtractor(extractorOptions);
  const keep = Math.ceil(((historyMs + lookaheadMs) * rate) / 1000);
  const hop = Math.max(1, Math.round((hopMs * rate) / 1000));
  const minimum = Math.ceil((MIN_RECORDING_MS * rate) / 1000);

  let leads: LeadName[] | undefined;
  let buffers: Float32Array[] = [];
  /** Samples held, from the buffers' start. */
  let held = 0;
  /** Samples dropped from the front, and received in all. */
  let dropped = 0;
  let lastRun = 0;
  /** The last onset handed out (beat or skipped), ms from the stream's start. */
  let decided = Number.NEGATIVE_INFINITY;

  function append(block: SampleBlock): void {
    const names = Object.keys(block).filter((k) => block[k as LeadName] !== undefined);
    const unknown = names.filter((k) => !(LEAD_NAMES as readonly string[]).includes(k));
    if (unknown.length > 0) {
      throw new InputError(
        'bad_recording',
        `live ECG: unknown lead${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; expected names from ${LEAD_NAMES.join(', ')}`,
      );
    }
    if (leads === undefined) {
      const missing = REQUIRED.filter((name) => !names.includes(name));
      if (missing.length > 0) {
        throw new InputError(
          'bad_recording',
          `live ECG: the first block lacks ${missing.join(', ')}; blocks need all 12 leads, or I, II and V1–V6`,
        );
      }
      leads = LEAD_NAMES.filter((name) => names.includes(name));
      buffers = leads.map(() => new Float32Array(Math.max(2 * keep, 1024)));
    } else if (names.length !== leads.length || leads.some((name) => !names.includes(name))) {
      throw new InputError(
        'bad_recording',
        `live ECG: a block has leads ${names.join(', ')}, the first had ${leads.join(', ')}`,
      );
    }
    const n = block[leads[0]!]!.length;
    for (const name of leads) {
      const data = block[name]!;
      if (data.length !== n) {
        throw new InputError(
          'bad_recording',
          `live ECG: lead ${name} has ${data.length} samples in a block, lead ${leads[0]} ${n}`,
        );
      }
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(data[i]!)) {
          throw new InputError(
            'bad_value',
            `live ECG: lead ${name} has no valid value at ${(((dropped + held + i) * 1000) / rate).toFixed(1)} ms`,
          );
        }
      }
    }
    if (held + n > buffers[0]!.length) {
      // Keep the last `keep` samples (fewer may be held); grow when a block is larger than the slack.
      const start = Math.max(0, held - keep);
      const size = Math.max(buffers[0]!.length, 2 * (held - start + n));
      buffers = buffers.map((old) => {
        const next = size === old.length ? old : new Float32Array(size);
        next.set(old.subarray(start, held));
        return next;
      });
      held -= start;
      dropped += start;
    }
    leads.forEach((name, l) => {
      const data = block[name]!;
      const buffer = buffers[l]!;
      for (let i = 0; i < n; i++) buffer[held + i] = data[i]!;
    });
    held += n;
  }

  /** Runs the extractor over what is held; hands out what is complete (at the end: everything). */
  function run(final: boolean): LiveBeatEvent[] {
    lastRun = dropped + held;
    if (held < minimum || leads === undefined) return [];
    const start = Math.max(0, held - keep);
    const recording: Recording = {
      rate,
      length: held - start,
      leads: Object.fromEntries(leads.map((name, l) => [name, buffers[l]!.subarray(start, held)])),
      source: 'live ECG',
      warnings: [],
    };
    // The history starts at a whole ms only when rate divides into 1 kHz steps; else to the nearest ms.
    const offsetMs = Math.round(((dropped + start) * 1000) / rate);
    const endMs = offsetMs + Math.floor(((held - start) * 1000) / rate);
    let extraction: BeatExtraction;
    try {
      extraction = extract(toModelLayout(recording).ecg);
    } catch (err) {
      // A flat history (leads off, a device still settling) has no beats yet; the stream goes on.
      if (err instanceof InputError && err.code === 'bad_recording') return [];
      throw err;
    }
    const { beats, skipped } = extraction;
    const found = [
      ...beats.map((beat) => ({ at: beat.onsetMs, beat })),
      ...skipped.map((skip) => ({ at: skip.atMs, skip })),
    ].sort((a, b) => a.at - b.at);
    const events: LiveBeatEvent[] = [];
    for (const item of found) {
      const at = offsetMs + item.at;
      if (at <= decided + SAME_BEAT_MS) continue;
      if ('beat' in item) {
        const { beat } = item;
        if (!final && offsetMs + beat.startMs + N_STEPS * STEP_MS + lookaheadMs > endMs) break;
        events.push({
          type: 'beat',
          beat: {
            ...beat,
            onsetMs: at,
            startMs: offsetMs + beat.startMs,
            rrMs: beat.rrMs ?? (Number.isFinite(decided) ? at - decided : null),
          },
        });
      } else {
        const { skip } = item;
        // Near the history's start: an edge of the history, not of the stream, unless nothing was dropped.
        if (skip.reason === 'near_start' && offsetMs > 0) continue;
        // A noisy beat is judged on its whole window; a beat running past the end may yet complete.
        if (!final && (skip.reason === 'near_end' || at + N_STEPS * STEP_MS > endMs)) break;
        events.push({
          type: 'skipped',
          skipped: {
            ...skip,
            atMs: at,
            ...(skip.reason === 'near_end'
              ? {
                  detail: `the stream ended at ${endMs} ms, before the ${N_STEPS * STEP_MS} ms window of this beat was complete`,
                }
              : {}),
          },
        });
      }
      decided = at;
    }
    return events;
  }

  return {
    push(block) {
      append(block);
      return dropped + held - lastRun >= hop ? run(false) : [];
    },
    flush: () => run(true),
    get receivedMs() {
      return ((dropped + held) * 1000) / rate;
    },
  };
}
