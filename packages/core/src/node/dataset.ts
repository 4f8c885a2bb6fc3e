/**
 * @module
 * Reads the LLNL "Simulated Intracardiac Transmembrane Voltage Recordings and ECG Signals" data set (or
 * anything in its layout) from disk, one pair at a time.
 *
 * Layout: a root (usually `intracardiac_dataset/`) holding folders `data_hearts_dd_0p2*`, each with pairs
 * `pECGData_<x>.npy` ((500, 10) electrode potentials, time-major, mV) and `VmData_<x>.npy` ((500, 75)
 * transmembrane voltages, time-major, mV). As in the LLNL starter code, a pair is matched by the file name
 * with the `pECGData` / `VmData` token removed, and files are taken in sorted name order; the pair id is
 * that name without the token, the `.npy` extension and the leading underscore
 * (`pECGData_hearts_dd_0p2_volunteer.v10_pattern.0.npy` → `hearts_dd_0p2_volunteer.v10_pattern.0`).
 *
 * The whole set is ~5 GB of float64, so `listPairs` only scans names and `readDataset` yields samples
 * lazily (with a small read-ahead) as channel-major float32: ECG 12 × 500 (LEAD_NAMES order) and Vm
 * 75 × 500 (site order of data/heart/points.csv).
 *
 * Damaged input — a file without its partner, an unreadable or malformed .npy, a wrong shape, a NaN/Inf
 * or a value beyond float32 range — is an InputError('bad_dataset') naming the file and the problem; with
 * `skipBad: true` the pair is left out and reported through `onSkip` instead.
 *
 * @example
 * const { pairs } = await listPairs('intracardiac_dataset');
 * for await (const s of readDataset('intracardiac_dataset')) train(s.ecg, s.vm);
 */

import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InputError } from '../errors.ts';
import {
  LEAD_NAMES,
  leadsFromElectrodes,
  N_ELECTRODES,
  N_SITES,
  N_STEPS,
  timeMajorToChannelMajor,
} from '../layout.ts';
import { parseNpy } from '../npy.ts';

/** Every folder of the data set starts with this name (17 of them in the published set). */
export const DATASET_FOLDER_PREFIX = 'data_hearts_dd_0p2';
const ECG_TOKEN = 'pECGData';
const VM_TOKEN = 'VmData';
const FLOAT32_MAX = 3.4028234663852886e38;

/** Where the data set is: its root folder, or an explicit list of pair folders. */
export type DatasetSource = string | { readonly folders: readonly string[] };

/** One ECG/Vm pair found on disk (nothing read yet). */
export interface DatasetPair {
  /** File name without the pECGData/VmData token, `.npy` and leading `_`; unique within its folder. */
  readonly id: string;
  /** Name (not path) of the folder holding the pair, e.g. `data_hearts_dd_0p2_geo_inn`. */
  readonly folder: string;
  readonly ecgPath: string;
  readonly vmPath: string;
}

/** One sample, converted to the channel-major float32 layout the models use. */
export interface DatasetSample {
  readonly id: string;
  readonly folder: string;
  /** 12 × 500, lead-major in LEAD_NAMES order, mV. */
  readonly ecg: Float32Array;
  /** 75 × 500, site-major in points.csv order, mV. */
  readonly vm: Float32Array;
  /** 10 × 500 raw electrode potentials (ELECTRODE_NAMES order, mV); only with `electrodes: true`. */
  readonly electrodes?: Float32Array;
}

/** A file left out with `skipBad: true`, and why. */
export interface SkippedFile {
  readonly path: string;
  readonly reason: string;
}

export interface ListPairsOptions {
  /** Leave out damaged pairs (reporting them through `onSkip`) instead of throwing. Default false. */
  readonly skipBad?: boolean;
  /** Called once for every file left out because of `skipBad`. */
  readonly onSkip?: (path: string, reason: string) => void;
}

export interface ReadDatasetOptions extends ListPairsOptions {
  /** Also return the raw electrode potentials. Default false. */
  readonly electrodes?: boolean;
  /** How many pairs are read from disk ahead of the consumer. Default 4. */
  readonly readAhead?: number;
}

export interface PairListing {
  /** Pairs sorted by folder name, then by file name. */
  readonly pairs: DatasetPair[];
  /** Pair folders scanned, as paths, in order. */
  readonly folders: string[];
  /** Files without a partner (only with `skipBad`; otherwise they throw). */
  readonly skipped: SkippedFile[];
}

function bad(message: string, cause?: unknown): InputError {
  return new InputError('bad_dataset', message, cause === undefined ? undefined : { cause });
}

/** A damaged data set file: InputError('bad_dataset') whose message is `<path>: <reason>`. */
export class DatasetFileError extends InputError {
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('bad_dataset', `${path}: ${reason}`, options);
  }
}

function errorText(err: unknown): string {
  if (err instanceof InputError) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : String(err);
}

/** Code-unit order, as Python's `sorted` on ASCII names; independent of the locale. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function datasetFolders(source: DatasetSource): Promise<string[]> {
  if (typeof source !== 'string') {
    if (source.folders.length === 0) throw bad('no data set folders given');
    return [...source.folders];
  }
  let entries: Dirent[];
  try {
    entries = await readdir(source, { withFileTypes: true });
  } catch (err) {
    throw bad(`${source}: cannot read the data set folder (${errorText(err)})`, err);
  }
  const names: string[] = [];
  for (const e of entries) {
    if (!e.name.startsWith(DATASET_FOLDER_PREFIX)) continue;
    // Follow symbolic links: data sets are often linked in from a bigger disk.
    const isDir = e.isSymbolicLink() ? await isDirectory(join(source, e.name)) : e.isDirectory();
    if (isDir) names.push(e.name);
  }
  names.sort(byName);
  if (names.length === 0) {
    const hint = entries.some((e) => e.isDirectory() && e.name === 'intracardiac_dataset')
      ? ` (did you mean ${join(source, 'intracardiac_dataset')}?)`
      : '';
    throw bad(
      `${source}: no ${DATASET_FOLDER_PREFIX}* folders found; expected the unpacked intracardiac_dataset/${hint}`,
    );
  }
  return names.map((n) => join(source, n));
}

/**
 * Finds every pair without reading any array, so callers can count and split before converting.
 * @example
 * const { pairs, skipped } = await listPairs('intracardiac_dataset', { skipBad: true });
 */
export async function listPairs(source: DatasetSource, options: ListPairsOptions = {}): Promise<PairListing> {
  const folders = await datasetFolders(source);
  const seenFolders = new Map<string, string>();
  const pairs: DatasetPair[] = [];
  const skipped: SkippedFile[] = [];
  for (const dir of folders) {
    const folder = basename(dir);
    const other = seenFolders.get(folder);
    if (other !== undefined) throw bad(`${dir}: same folder name as ${other}; folder names must be unique`);
    seenFolders.set(folder, dir);

    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true }))
        .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.npy'))
        .map((e) => e.name)
        .sort(byName);
    } catch (err) {
      throw bad(`${dir}: cannot read the folder (${errorText(err)})`, err);
    }
    const ecgById = new Map<string, string>();
    const vmById = new Map<string, string>();
    for (const name of names) {
      const isEcg = name.includes(ECG_TOKEN);
      const isVm = name.includes(VM_TOKEN);
      if (isEcg === isVm) continue; // not part of the set (or ambiguous): neither ECG nor Vm data
      const key = name
        .replaceAll(isEcg ? ECG_TOKEN : VM_TOKEN, '')
        .slice(0, -'.npy'.length)
        .replace(/^_/, '');
      (isEcg ? ecgById : vmById).set(key, name);
    }
    for (const [id, ecgName] of ecgById) {
      const vmName = vmById.get(id);
      if (vmName === undefined) {
        const path = join(dir, ecgName);
        const reason = `no matching ${VM_TOKEN} file (expected ${ecgName.replaceAll(ECG_TOKEN, VM_TOKEN)})`;
        if (!options.skipBad) throw new DatasetFileError(path, reason);
        skipped.push({ path, reason });
        options.onSkip?.(path, reason);
        continue;
      }
      pairs.push({ id, folder, ecgPath: join(dir, ecgName), vmPath: join(dir, vmName) });
    }
    for (const [id, vmName] of vmById) {
      if (ecgById.has(id)) continue;
      const path = join(dir, vmName);
      const reason = `no matching ${ECG_TOKEN} file (expected ${vmName.replaceAll(VM_TOKEN, ECG_TOKEN)})`;
      if (!options.skipBad) throw new DatasetFileError(path, reason);
      skipped.push({ path, reason });
      options.onSkip?.(path, reason);
    }
  }
  pairs.sort((a, b) => byName(a.folder, b.folder) || byName(basename(a.ecgPath), basename(b.ecgPath)));
  return { pairs, folders, skipped };
}

/** Reads one .npy and checks it is a finite (500, channels) array; errors name the file. */
async function readRecord(path: string, channels: number): Promise<Float32Array | Float64Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DatasetFileError(path, `cannot read the file (${errorText(err)})`, { cause: err });
  }
  let array: ReturnType<typeof parseNpy>;
  try {
    array = parseNpy(bytes, path);
  } catch (err) {
    // parseNpy messages are `<path>: <problem>`.
    const reason = errorText(err).replace(`${path}: `, '');
    throw new DatasetFileError(path, reason, { cause: err });
  }
  const { shape, data } = array;
  if (shape.length !== 2 || shape[0] !== N_STEPS || shape[1] !== channels) {
    throw new DatasetFileError(path, `expected shape (${N_STEPS}, ${channels}), got (${shape.join(', ')})`);
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // The negated comparison is also true for NaN.
    if (!(Math.abs(v) <= FLOAT32_MAX)) {
      const where = `row ${Math.floor(i / channels)}, column ${i % channels}`;
      const what = Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? `${v} (beyond float32 range)` : `${v}`;
      throw new DatasetFileError(path, `${what} at ${where}`);
    }
  }
  return data;
}

/**
 * Reads and converts one pair. Throws InputError('bad_dataset') naming the damaged file.
 * @example
 * const sample = await readPair(pairs[0]!);
 */
export async function readPair(
  pair: DatasetPair,
  options: Pick<ReadDatasetOptions, 'electrodes'> = {},
): Promise<DatasetSample> {
  const [electrodes, vm] = await Promise.all([
    readRecord(pair.ecgPath, N_ELECTRODES),
    readRecord(pair.vmPath, N_SITES),
  ]);
  const ecg = leadsFromElectrodes(electrodes, N_STEPS);
  // Finite electrodes near the float32 limit can still give an infinite lead difference.
  const overflow = ecg.findIndex((v) => !Number.isFinite(v));
  if (overflow >= 0) {
    const lead = LEAD_NAMES[Math.floor(overflow / N_STEPS)];
    throw new DatasetFileError(pair.ecgPath, `lead ${lead} at step ${overflow % N_STEPS} overflows float32`);
  }
  const sample: DatasetSample = {
    id: pair.id,
    folder: pair.folder,
    ecg,
    vm: timeMajorToChannelMajor(vm, N_STEPS, N_SITES),
  };
  if (!options.electrodes) return sample;
  return { ...sample, electrodes: timeMajorToChannelMajor(electrodes, N_STEPS, N_ELECTRODES) };
}

type PairResult = { ok: true; sample: DatasetSample } | { ok: false; error: unknown };

/**
 * Yields the given pairs as samples, in order, reading a few ahead. Damaged pairs throw, or with
 * `skipBad` are reported through `onSkip` (path of the damaged file) and left out.
 */
export async function* readPairs(
  pairs: readonly DatasetPair[],
  options: ReadDatasetOptions = {},
): AsyncGenerator<DatasetSample, void, undefined> {
  const readAhead = Math.max(1, Math.floor(options.readAhead ?? 4));
  // Results are wrapped so a prefetched failure never becomes an unhandled rejection.
  const start = (pair: DatasetPair): Promise<PairResult> =>
    readPair(pair, options).then(
      (sample) => ({ ok: true, sample }),
      (error: unknown) => ({ ok: false, error }),
    );
  const pending: Promise<PairResult>[] = [];
  let next = 0;
  while (next < pairs.length && pending.length < readAhead) pending.push(start(pairs[next++]!));
  while (pending.length > 0) {
    const result = await pending.shift()!;
    if (next < pairs.length) pending.push(start(pairs[next++]!));
    if (result.ok) {
      yield result.sample;
      continue;
    }
    if (!(result.error instanceof DatasetFileError) || !options.skipBad) throw result.error;
    options.onSkip?.(result.error.path, result.error.reason);
  }
}

/**
 * Scans `source` and yields every pair as a sample, lazily (one pair in memory plus the read-ahead).
 * @example
 * for await (const { id, ecg, vm } of readDataset('intracardiac_dataset', { skipBad: true })) { … }
 */
export async function* readDataset(
  source: DatasetSource,
  options: ReadDatasetOptions = {},
): AsyncGenerator<DatasetSample, void, undefined> {
  const { pairs } = await listPairs(source, options);
  yield* readPairs(pairs, options);
}
