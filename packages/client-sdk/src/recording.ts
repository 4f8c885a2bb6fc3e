/**
 * @module
 * Whole recordings and live ECGs in, one reconstruction per beat out. `parseRecording(files)` reads the
 * files a page is given (a WFDB header with its data files, an EDF, a CSV with its rate);
 * `reconstructRecording(recording, options)` reconstructs its beats one by one as they are done;
 * `reconstructLive(source, options)` takes sample blocks as a device delivers them and reconstructs each
 * beat as soon as its 500 ms window has arrived. Reading, filtering, QRS detection and alignment are
 * @ecg-tmp/core's, the code the CLI and the trainer's tools run.
 */

import {
  type Beat,
  type BeatExtractorOptions,
  activationTimes as coreActivationTimes,
  repolarisationTimes as coreRepolarisationTimes,
  createLiveBeatExtractor,
  extractRecordingBeats,
  type InDistribution,
  InputError,
  type InputErrorCode,
  type LiveBeatEvent,
  type LiveBeatExtractorOptions,
  N_SITES,
  N_STEPS,
  parseEdf,
  parseRecordingCsv,
  parseWfdb,
  parseWfdbHeader,
  type Recording,
  type SampleBlock,
  type SkippedBeat,
} from '@ecg-tmp/core';
import type { Backend } from './backends/select.ts';
import { RecordingError } from './errors.ts';
import type { Reconstruction, ReconstructOptions, Reconstructor } from './reconstructor.ts';

/** One beat and its reconstruction. */
export interface BeatReconstruction {
  readonly status: 'beat';
  /** Its place among the reconstructed beats, from 0. */
  readonly index: number;
  /** QRS onset, ms from the record's (or the stream's) start. */
  readonly onsetMs: number;
  /** The window's first sample, ms from the start. */
  readonly startMs: number;
  /** From the previous detected QRS onset, ms; null for the first. */
  readonly rrMs: number | null;
  /** Median spatial velocity over the QRS peak's (0 clean … 1 all noise). */
  readonly noise: number;
  /** The window the model got: 12 × 500 mV, lead-major, filtered, QRS onset 3 ms in. */
  readonly ecg: Float32Array;
  /** 75 × 500 mV, site-major. */
  readonly tmp: Float32Array;
  /** Per site, ms: first rise above 0 mV (−1 never). */
  readonly activationMs: Int32Array;
  /** Per site, ms: last fall below −60 mV after activation (−1 never, or not by 500 ms). */
  readonly repolarisationMs: Int32Array;
  /**
   * How far the beat's window is from the ECGs the model was trained on (core's checkInDistribution).
   * 'not-checked' for a model whose manifest carries no training-set statistics: unknown, never "in
   * range".
   */
  readonly inDistribution: InDistribution;
  readonly backend: Backend;
  readonly timings: Reconstruction['timings'];
}

/** A detected QRS that gave no beat: too near an end of the record, or too noisy. */
export interface SkippedBeatEvent extends SkippedBeat {
  readonly status: 'skipped';
}

/** What reconstructRecording and reconstructLive hand out, in time order. */
export type BeatEvent = BeatReconstruction | SkippedBeatEvent;

export interface RecordingReconstructOptions extends ReconstructOptions {
  /** The reconstructor that runs each beat (createReconstructor). */
  readonly reconstructor: Reconstructor;
  /** The beat extractor's options: the filter's (mains frequencies…) and the largest noise kept. */
  readonly beats?: BeatExtractorOptions;
}

export interface LiveReconstructOptions
  extends RecordingReconstructOptions,
    Pick<LiveBeatExtractorOptions, 'hopMs' | 'historyMs' | 'lookaheadMs'> {
  /** Samples per second of the blocks (250 Hz up). */
  readonly rate: number;
}

export interface ParseRecordingOptions {
  /** Samples per second of a CSV (it has no place to say it); WFDB and EDF state their own. */
  readonly rate?: number;
  /** Units of a CSV's values: 'mV' (default), 'uV' or 'V'. */
  readonly units?: string;
}

/** A file as a page gets it: a File, or a Blob with a name. */
export type RecordingFile = Blob & { readonly name: string };

/** Core's InputError as the SDK's RecordingError (same message, its code kept); others as they are. */
function asRecordingError(err: unknown): unknown {
  return err instanceof InputError ? new RecordingError(err.message, err.code, { cause: err }) : err;
}

function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw asRecordingError(err);
  }
}

const extension = (name: string) => /\.[^./\\]+$/.exec(name)?.[0].toLowerCase() ?? '';

/**
 * Reads a recording from the files a user picked: a WFDB record (its `.hea` and the `.dat` files the
 * header names), an `.edf`, or a `.csv` with a header row of leads (needs `rate`). Throws RecordingError
 * naming the file and what is wrong: a malformed file, a data file the header names but that was not
 * given, a CSV without a rate, files of no known kind.
 * @example
 * const recording = await parseRecording(input.files!); // <input type="file" multiple>
 * for await (const beat of reconstructRecording(recording, { reconstructor: r })) show(beat);
 */
export async function parseRecording(
  files: Iterable<RecordingFile> | ArrayLike<RecordingFile>,
  options: ParseRecordingOptions = {},
): Promise<Recording> {
  const list = Array.from(files as ArrayLike<RecordingFile>);
  const bytes = async (file: RecordingFile) => new Uint8Array(await file.arrayBuffer());
  const of = (ext: string) => list.filter((f) => extension(f.name) === ext);
  const names = list.map((f) => f.name).join(', ') || 'none';
  const fail = (message: string, code: InputErrorCode = 'bad_recording'): never => {
    throw new RecordingError(message, code);
  };
  const [hea, ...moreHea] = of('.hea');
  if (hea !== undefined) {
    if (moreHea.length > 0)
      fail(`one record at a time: got the headers ${[hea, ...moreHea].map((f) => f.name).join(', ')}`);
    const headerBytes = await bytes(hea);
    const parsed = guard(() => parseWfdbHeader(headerBytes, hea.name));
    const data: Record<string, Uint8Array> = {};
    for (const name of parsed.files) {
      const file =
        list.find((f) => f.name === name) ?? list.find((f) => f.name.toLowerCase() === name.toLowerCase());
      if (file === undefined) {
        fail(
          `${hea.name} names the data file ${name}, which is not among the files given (${names}); pick the header and its data files together`,
          'bad_wfdb',
        );
      }
      data[name] = await bytes(file!);
    }
    return guard(() => parseWfdb(parsed, data, hea.name));
  }
  const [edf, ...moreEdf] = of('.edf');
  if (edf !== undefined) {
    if (moreEdf.length > 0)
      fail(`one recording at a time: got ${[edf, ...moreEdf].map((f) => f.name).join(', ')}`);
    const edfBytes = await bytes(edf);
    return guard(() => parseEdf(edfBytes, edf.name));
  }
  const [csv, ...moreCsv] = of('.csv');
  if (csv !== undefined) {
    if (moreCsv.length > 0)
      fail(`one recording at a time: got ${[csv, ...moreCsv].map((f) => f.name).join(', ')}`);
    if (options.rate === undefined)
      fail(`${csv.name}: a CSV recording needs its sampling rate (the rate option)`, 'bad_csv');
    const csvBytes = await bytes(csv);
    return guard(() =>
      parseRecordingCsv(
        csvBytes,
        { rate: options.rate!, ...(options.units !== undefined ? { units: options.units } : {}) },
        csv.name,
      ),
    );
  }
  if (of('.dat').length > 0)
    fail(`${of('.dat')[0]!.name}: a WFDB data file needs its header (.hea); pick both`, 'bad_wfdb');
  return fail(
    `no recording among the files given (${names}). Expected one of: a WFDB .hea with its .dat files, an .edf, a .csv`,
  );
}

/** Reconstructs one beat's window and times it. */
async function reconstructBeat(
  beat: Beat,
  index: number,
  options: RecordingReconstructOptions,
): Promise<BeatReconstruction> {
  const { reconstructor, beats: _, ...call } = options;
  const result = await reconstructor.reconstruct(beat.window.data, call);
  const tmp = { data: result.tmp, shape: [1, N_SITES, N_STEPS] as const };
  return {
    status: 'beat',
    index,
    onsetMs: beat.onsetMs,
    startMs: beat.startMs,
    rrMs: beat.rrMs,
    noise: beat.noise,
    ecg: beat.window.data,
    tmp: result.tmp,
    activationMs: coreActivationTimes(tmp),
    repolarisationMs: coreRepolarisationTimes(tmp),
    inDistribution: result.inDistribution[0]!,
    backend: result.backend,
    timings: result.timings,
  };
}

/**
 * The beats of a parsed recording (any accepted rate, 12 leads or I, II and V1–V6), each reconstructed
 * in turn and handed out as it is done, skipped QRS in their place. Throws RecordingError for a
 * recording that cannot be used (under 1 s, flat, a gap, leads missing, a rate out of range). A recording
 * with no beat gives only skipped events, or none.
 * @example
 * for await (const e of reconstructRecording(recording, { reconstructor: r })) {
 *   if (e.status === 'beat') draw(e.onsetMs, e.tmp, e.activationMs);
 * }
 */
export async function* reconstructRecording(
  recording: Recording,
  options: RecordingReconstructOptions,
): AsyncGenerator<BeatEvent, void, undefined> {
  const { beats, skipped } = guard(() => extractRecordingBeats(recording, options.beats));
  const events = [
    ...beats.map((beat) => ({ at: beat.onsetMs, beat })),
    ...skipped.map((skip) => ({ at: skip.atMs, skip })),
  ].sort((a, b) => a.at - b.at);
  let index = 0;
  for (const event of events) {
    options.signal?.throwIfAborted();
    if ('beat' in event) yield await reconstructBeat(event.beat, index++, options);
    else yield { status: 'skipped', ...event.skip };
  }
}

/**
 * A live ECG in, each beat's reconstruction out as soon as its 500 ms window has arrived (at most
 * `hopMs`, default 100, after its last sample, plus the reconstruction). `source` yields sample blocks at
 * `rate`: `{ I, II, V1, …, V6 }` (or all 12 leads), each a Float32Array or number[] of the same length,
 * mV — what a Web Serial or Bluetooth ECG reader delivers. When the source ends, a beat whose window it
 * cut short is handed out as skipped 'near_end'. Throws RecordingError for blocks that cannot be used
 * (see core's createLiveBeatExtractor). Stopping the loop stops reading the source.
 * @example
 * for await (const e of reconstructLive(device.blocks(), { reconstructor: r, rate: 500 })) {
 *   if (e.status === 'beat') draw(e.tmp);
 * }
 */
export async function* reconstructLive(
  source: AsyncIterable<SampleBlock> | Iterable<SampleBlock>,
  options: LiveReconstructOptions,
): AsyncGenerator<BeatEvent, void, undefined> {
  const live = guard(() =>
    createLiveBeatExtractor({
      ...options.beats,
      rate: options.rate,
      ...(options.hopMs !== undefined ? { hopMs: options.hopMs } : {}),
      ...(options.historyMs !== undefined ? { historyMs: options.historyMs } : {}),
      ...(options.lookaheadMs !== undefined ? { lookaheadMs: options.lookaheadMs } : {}),
    }),
  );
  let index = 0;
  const handOut = async (event: LiveBeatEvent): Promise<BeatEvent> =>
    event.type === 'beat'
      ? reconstructBeat(event.beat, index++, options)
      : { status: 'skipped', ...event.skipped };
  for await (const block of source) {
    options.signal?.throwIfAborted();
    for (const event of guard(() => live.push(block))) yield await handOut(event);
  }
  for (const event of guard(() => live.flush())) yield await handOut(event);
}
