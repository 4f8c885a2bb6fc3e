/**
 * @module
 * The training cache written by `npm run prepare-data` (see prepare-data.ts), and its reader.
 *
 * Layout of the cache folder (format "ecg-tmp/llnl-cache", version 1):
 *   train.ecg.f32  val.ecg.f32  test.ecg.f32   N × 12 × 500 float32 little-endian, raw mV, sample-major,
 *                                              then lead (LEAD_NAMES order: I, II, III, aVR, aVL, aVF,
 *                                              V1–V6), then time (1 ms steps)
 *   train.vm.f32   val.vm.f32   test.vm.f32    N × 75 × 500 float32 little-endian, raw mV, sample-major,
 *                                              then site (data/heart/points.csv order), then time
 *   index.json                                 CacheIndex: format, version, shapes, units, the split
 *                                              rule, counts (also per folder), per split the sample ids
 *                                              and folders in file order, each file's size and sha256,
 *                                              the source root and folders, the files skipped
 * No header in the .f32 files, so they can be read straight into a Float32Array (or numpy.fromfile).
 * index.json is written last, so a folder without it is an unfinished cache.
 *
 * @example
 * const cache = await openCache('data/llnl');
 * cache.train.ecg.subarray(i * 12 * 500, (i + 1) * 12 * 500); // sample i's 12 leads
 */

import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { InputError, N_LEADS, N_SITES, N_STEPS } from '@ecg-tmp/core';
import type { SkippedFile } from '@ecg-tmp/core/node';

export const CACHE_FORMAT = 'ecg-tmp/llnl-cache';
export const CACHE_VERSION = 1;
export const CACHE_INDEX_FILE = 'index.json';
export const SPLITS = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];
export type SignalKind = 'ecg' | 'vm';

/** Values per sample in each signal file. */
export const SAMPLE_VALUES: Readonly<Record<SignalKind, number>> = {
  ecg: N_LEADS * N_STEPS,
  vm: N_SITES * N_STEPS,
};

/** Name of a split's signal file inside the cache folder, e.g. `train.ecg.f32`. */
export function cacheFileName(split: SplitName, kind: SignalKind): string {
  return `${split}.${kind}.f32`;
}

export interface CacheFileInfo {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface CacheSplitIndex {
  readonly count: number;
  readonly ecg: CacheFileInfo;
  readonly vm: CacheFileInfo;
  /** Pair ids in file order; `folders[i]` is sample i's folder (ids are unique within a folder). */
  readonly ids: string[];
  readonly folders: string[];
}

/** Contents of index.json. */
export interface CacheIndex {
  readonly format: typeof CACHE_FORMAT;
  readonly version: typeof CACHE_VERSION;
  readonly source: { readonly root: string; readonly folders: string[] };
  readonly dtype: 'float32';
  readonly byteOrder: 'little';
  readonly ecg: {
    readonly shape: readonly ['N', typeof N_LEADS, typeof N_STEPS];
    readonly units: 'mV';
    readonly leads: readonly string[];
  };
  readonly vm: {
    readonly shape: readonly ['N', typeof N_SITES, typeof N_STEPS];
    readonly units: 'mV';
    readonly sites: string;
  };
  readonly split: { readonly rule: string; readonly fractions: Readonly<Record<SplitName, number>> };
  readonly counts: Readonly<Record<SplitName | 'total', number>>;
  readonly perFolder: Readonly<Record<string, Readonly<Record<SplitName, number>>>>;
  readonly splits: Readonly<Record<SplitName, CacheSplitIndex>>;
  readonly skipped: SkippedFile[];
}

/** One split, loaded: sample i is `ecg[i·6000 … (i+1)·6000)` and `vm[i·37500 … (i+1)·37500)`. */
export interface CacheSplit {
  readonly count: number;
  /** count × 12 × 500, mV. */
  readonly ecg: Float32Array;
  /** count × 75 × 500, mV. */
  readonly vm: Float32Array;
  readonly ids: readonly string[];
  readonly folders: readonly string[];
}

export interface OpenCacheOptions {
  /** Also check every file's sha256 against index.json (reads are ~2× slower). Default false. */
  readonly verify?: boolean;
}

export interface Cache extends Readonly<Record<SplitName, CacheSplit>> {
  readonly dir: string;
  readonly index: CacheIndex;
}

const RERUN = 'run `npm run prepare-data -- --from <intracardiac_dataset> --out <dir>` again';

function damaged(dir: string, problem: string, cause?: unknown): InputError {
  return new InputError(
    'bad_dataset',
    `${dir}: damaged data cache, ${problem}; ${RERUN}`,
    cause === undefined ? undefined : { cause },
  );
}

function assertLittleEndianHost(): void {
  // The cache stores little-endian floats and is read into native typed arrays without conversion.
  if (endianness() !== 'LE') throw new Error('the data cache needs a little-endian machine');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown, length: number): v is string[] {
  return Array.isArray(v) && v.length === length && v.every((x) => typeof x === 'string');
}

/** Checks the parts of index.json the reader relies on; anything else is informational. */
function checkIndex(dir: string, json: unknown): CacheIndex {
  if (!isRecord(json) || json.format !== CACHE_FORMAT) {
    throw damaged(dir, `${CACHE_INDEX_FILE} is not a ${CACHE_FORMAT} index`);
  }
  if (json.version !== CACHE_VERSION) {
    throw new InputError(
      'bad_dataset',
      `${dir}: data cache format version ${String(json.version)}, this trainer reads version ${CACHE_VERSION}; ${RERUN}`,
    );
  }
  const splits = json.splits;
  if (!isRecord(splits)) throw damaged(dir, `${CACHE_INDEX_FILE} has no splits`);
  for (const name of SPLITS) {
    const s = splits[name];
    if (!isRecord(s) || !Number.isSafeInteger(s.count) || (s.count as number) < 0) {
      throw damaged(dir, `${CACHE_INDEX_FILE}: split '${name}' has no valid count`);
    }
    const count = s.count as number;
    if (!isStringArray(s.ids, count) || !isStringArray(s.folders, count)) {
      throw damaged(dir, `${CACHE_INDEX_FILE}: split '${name}' needs ${count} ids and folders`);
    }
    for (const kind of ['ecg', 'vm'] as const) {
      const f = s[kind];
      const bytes = count * SAMPLE_VALUES[kind] * 4;
      if (!isRecord(f) || f.file !== cacheFileName(name, kind) || typeof f.sha256 !== 'string') {
        throw damaged(dir, `${CACHE_INDEX_FILE}: split '${name}' lacks its ${kind} file entry`);
      }
      if (f.bytes !== bytes) {
        throw damaged(
          dir,
          `${CACHE_INDEX_FILE}: ${f.file} should hold ${bytes} bytes, index says ${f.bytes}`,
        );
      }
    }
  }
  return json as unknown as CacheIndex;
}

/** Reads and checks `dir/index.json` without loading any signal. */
export async function readCacheIndex(dir: string): Promise<CacheIndex> {
  let text: string;
  try {
    text = await readFile(join(dir, CACHE_INDEX_FILE), 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const problem =
      code === 'ENOENT'
        ? `no data cache (${CACHE_INDEX_FILE} missing; an interrupted prepare-data leaves none)`
        : `cannot read ${CACHE_INDEX_FILE} (${String(code ?? err)})`;
    throw new InputError('bad_dataset', `${dir}: ${problem}; ${RERUN}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw damaged(dir, `${CACHE_INDEX_FILE} is not valid JSON`, err);
  }
  return checkIndex(dir, json);
}

/** Reads one .f32 file whole into a Float32Array, checking its size (and sha256 with `verify`). */
async function readSignalFile(dir: string, info: CacheFileInfo, verify: boolean): Promise<Float32Array> {
  const path = join(dir, info.file);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw damaged(dir, `cannot open ${info.file} (${String((err as { code?: unknown }).code ?? err)})`, err);
  }
  try {
    const { size } = await handle.stat();
    if (size !== info.bytes) {
      throw damaged(dir, `${info.file} holds ${size} bytes, ${CACHE_INDEX_FILE} says ${info.bytes}`);
    }
    const out = new Float32Array(size / 4);
    const bytes = new Uint8Array(out.buffer);
    const hash = verify ? createHash('sha256') : undefined;
    // Read in chunks: fs.readFile refuses files over 2 GiB, and the training split is larger.
    const chunk = 64 << 20;
    let at = 0;
    while (at < size) {
      const { bytesRead } = await handle.read(bytes, at, Math.min(chunk, size - at), at);
      if (bytesRead === 0) throw damaged(dir, `${info.file} ended early at byte ${at}`);
      hash?.update(bytes.subarray(at, at + bytesRead));
      at += bytesRead;
    }
    if (hash && hash.digest('hex') !== info.sha256) {
      throw damaged(dir, `${info.file} does not match its sha256 in ${CACHE_INDEX_FILE}`);
    }
    return out;
  } finally {
    await handle.close();
  }
}

/** Loads one split of a cache whose index has been read already. */
export async function loadCacheSplit(
  dir: string,
  index: CacheIndex,
  split: SplitName,
  options: OpenCacheOptions = {},
): Promise<CacheSplit> {
  assertLittleEndianHost();
  const s = index.splits[split];
  const verify = options.verify ?? false;
  const ecg = await readSignalFile(dir, s.ecg, verify);
  const vm = await readSignalFile(dir, s.vm, verify);
  return { count: s.count, ecg, vm, ids: s.ids, folders: s.folders };
}

/**
 * Opens a cache written by prepare-data and loads all three splits (about 2.8 GB for the full set; use
 * readCacheIndex + loadCacheSplit to load fewer). Errors are InputError('bad_dataset') saying what is
 * missing or damaged and how to rebuild.
 * @example
 * const { train, val } = await openCache('data/llnl', { verify: true });
 */
export async function openCache(dir: string, options: OpenCacheOptions = {}): Promise<Cache> {
  const index = await readCacheIndex(dir);
  const train = await loadCacheSplit(dir, index, 'train', options);
  const val = await loadCacheSplit(dir, index, 'val', options);
  const test = await loadCacheSplit(dir, index, 'test', options);
  return { dir, index, train, val, test };
}
