/**
 * @module
 * Converts the LLNL data set (~5 GB of float64 .npy pairs) once into the compact float32 training cache
 * that data.ts reads (format described there), with a fixed train/val/test split.
 *
 *   npm run prepare-data -- --from intracardiac_dataset --out data/llnl
 *   npm run prepare-data -- --from intracardiac_dataset --out data/llnl --skip-bad
 *   npm run prepare-data -- --from intracardiac_dataset --out data/small \
 *     --folders data_hearts_dd_0p2,data_hearts_dd_0p2_geo_inn
 *
 * Split: 80/10/10, stratified by folder and deterministic. Within each folder the pairs are ordered by
 * sha256("<folder>/<id>") (ties, which need a hash collision, by id); with n pairs in the folder the first
 * n − 2·round(n/10) go to train, the next round(n/10) to val and the last round(n/10) to test (round
 * half up: 435 → 347/44/44, 1125 → 899/113/113, 5 → 3/1/1, 4 → 4/0/0). Samples are stored in data set
 * order (folder, then file name), not in hash order. The split is decided from the file names, so with
 * --skip-bad a pair found damaged while converting is dropped from its split and the split sizes can
 * fall short of the rule by the number of such pairs.
 *
 * Samples stream from disk into open temporary files (memory stays at a few pairs plus write buffers);
 * the temporaries are renamed into place only after everything converted, and index.json is written
 * last, so an interrupted run never leaves a cache that looks complete. Run one prepare-data per --out
 * folder at a time. Progress goes to stderr.
 */

import { createHash, type Hash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InputError, LEAD_NAMES, N_LEADS, N_SITES, N_STEPS } from '@ecg-tmp/core';
import {
  type DatasetPair,
  isMainModule,
  listPairs,
  readPairs,
  type SkippedFile,
  writeFileAtomic,
} from '@ecg-tmp/core/node';
import {
  CACHE_FORMAT,
  CACHE_INDEX_FILE,
  CACHE_VERSION,
  type CacheIndex,
  type CacheSplitIndex,
  cacheFileName,
  type SignalKind,
  SPLITS,
  type SplitName,
} from './data.ts';

export const SPLIT_FRACTIONS: Readonly<Record<SplitName, number>> = { train: 0.8, val: 0.1, test: 0.1 };
const SPLIT_RULE =
  'per folder: order pairs by sha256("<folder>/<id>"); with n pairs, first n - 2*round(n/10) train, ' +
  'next round(n/10) val, last round(n/10) test (round half up)';

/** Sizes of train/val/test for a folder of n pairs (see the module header). */
export function splitSizes(n: number): Record<SplitName, number> {
  const tenth = Math.round(n / 10);
  return { train: n - 2 * tenth, val: tenth, test: tenth };
}

function pairHash(pair: DatasetPair): string {
  return createHash('sha256').update(`${pair.folder}/${pair.id}`).digest('hex');
}

/**
 * Assigns every pair to a split, stratified by folder and independent of the input order.
 * Returns the split of `pairs[i]` at index i.
 * @example
 * const splits = assignSplits((await listPairs(root)).pairs);
 */
export function assignSplits(pairs: readonly DatasetPair[]): SplitName[] {
  const byFolder = new Map<string, { index: number; hash: string; id: string }[]>();
  pairs.forEach((pair, index) => {
    const group = byFolder.get(pair.folder) ?? [];
    group.push({ index, hash: pairHash(pair), id: pair.id });
    byFolder.set(pair.folder, group);
  });
  const out = new Array<SplitName>(pairs.length);
  for (const group of byFolder.values()) {
    group.sort((a, b) =>
      a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
    const { train, val } = splitSizes(group.length);
    group.forEach(({ index }, rank) => {
      out[index] = rank < train ? 'train' : rank < train + val ? 'val' : 'test';
    });
  }
  return out;
}

/** Progress of a run, as a tagged union; `convert` comes once per pair. */
export type PrepareProgress =
  | { status: 'scan'; pairs: number; folders: number }
  | { status: 'skip'; path: string; reason: string }
  | { status: 'convert'; done: number; total: number; bytes: number }
  | { status: 'finalise' }
  | { status: 'done'; counts: Readonly<Record<SplitName | 'total', number>>; skipped: number };

export interface PrepareOptions {
  /** The unpacked data set root (holding data_hearts_dd_0p2* folders). */
  readonly from: string;
  /** Cache folder to write; created if needed, an existing cache there is replaced. */
  readonly out: string;
  /** Only these folders (names under `from`, or paths); default all data_hearts_dd_0p2* folders. */
  readonly folders?: readonly string[];
  /** Skip and report damaged pairs instead of failing. Default false. */
  readonly skipBad?: boolean;
  readonly onProgress?: (event: PrepareProgress) => void;
}

const TEMP_SUFFIX = /\.[0-9a-f]{12}\.tmp$/;
const BUFFER_BYTES = 4 << 20;

/** An append-only temporary file with a write buffer and a running sha256. */
class SignalFileWriter {
  private readonly buffer = new Uint8Array(BUFFER_BYTES);
  private used = 0;
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  private constructor(
    readonly tempPath: string,
    readonly finalPath: string,
    private readonly handle: Awaited<ReturnType<typeof open>>,
  ) {}

  static async create(dir: string, name: string, tag: string): Promise<SignalFileWriter> {
    const tempPath = resolve(dir, `${name}.${tag}.tmp`);
    return new SignalFileWriter(tempPath, resolve(dir, name), await open(tempPath, 'wx'));
  }

  async append(values: Float32Array): Promise<void> {
    // Float32Array bytes are native order; data.ts refuses big-endian hosts, so this is little-endian.
    let src = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.hash.update(src);
    this.bytes += src.length;
    while (src.length > 0) {
      const n = Math.min(src.length, this.buffer.length - this.used);
      this.buffer.set(src.subarray(0, n), this.used);
      this.used += n;
      src = src.subarray(n);
      if (this.used === this.buffer.length) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    let at = 0;
    while (at < this.used) {
      const { bytesWritten } = await this.handle.write(this.buffer, at, this.used - at);
      at += bytesWritten;
    }
    this.used = 0;
  }

  /** Flushes, syncs and closes; returns the sha256 of everything appended. */
  async finish(): Promise<string> {
    await this.flush();
    await this.handle.sync();
    await this.handle.close();
    return this.hash.digest('hex');
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.tempPath, { force: true });
  }
}

/** Removes temporaries left by an interrupted earlier run. */
async function removeStaleTemporaries(out: string): Promise<void> {
  const names = await readdir(out);
  const ours = new Set([
    CACHE_INDEX_FILE,
    ...SPLITS.flatMap((s) => [cacheFileName(s, 'ecg'), cacheFileName(s, 'vm')]),
  ]);
  for (const name of names) {
    if (TEMP_SUFFIX.test(name) && ours.has(name.replace(TEMP_SUFFIX, ''))) {
      await rm(resolve(out, name), { force: true });
    }
  }
}

/**
 * Converts the data set at `options.from` into a cache at `options.out` and returns its index.
 * @example
 * const index = await prepareData({ from: 'intracardiac_dataset', out: 'data/llnl' });
 */
export async function prepareData(options: PrepareOptions): Promise<CacheIndex> {
  const root = resolve(options.from);
  const out = resolve(options.out);
  const emit = options.onProgress ?? (() => undefined);
  const skipped: SkippedFile[] = [];
  const onSkip = (path: string, reason: string) => {
    skipped.push({ path, reason });
    emit({ status: 'skip', path, reason });
  };
  const skipBad = options.skipBad ?? false;

  // 1. Scan names and decide the split before reading any data.
  const source = options.folders ? { folders: options.folders.map((f) => resolve(root, f)) } : root;
  const listing = await listPairs(source, { skipBad, onSkip });
  if (listing.pairs.length === 0) {
    throw new InputError(
      'bad_dataset',
      `${root}: no pECGData/VmData pairs found in ${listing.folders.length} folder(s)`,
    );
  }
  emit({ status: 'scan', pairs: listing.pairs.length, folders: listing.folders.length });
  const assigned = assignSplits(listing.pairs);
  const splitOf = new Map(listing.pairs.map((p, i) => [p, assigned[i]!]));

  // 2. Stream every pair into the temporary file of its split.
  await mkdir(out, { recursive: true });
  await removeStaleTemporaries(out);
  const tag = randomBytes(6).toString('hex');
  const writers = new Map<string, SignalFileWriter>();
  const writer = (split: SplitName, kind: SignalKind) => writers.get(`${split}.${kind}`)!;
  const ids: Record<SplitName, string[]> = { train: [], val: [], test: [] };
  const folders: Record<SplitName, string[]> = { train: [], val: [], test: [] };
  try {
    for (const split of SPLITS) {
      for (const kind of ['ecg', 'vm'] as const) {
        writers.set(`${split}.${kind}`, await SignalFileWriter.create(out, cacheFileName(split, kind), tag));
      }
    }
    const byKey = new Map(listing.pairs.map((p) => [`${p.folder}/${p.id}`, p]));
    let done = 0;
    let bytes = 0;
    for await (const sample of readPairs(listing.pairs, { skipBad, onSkip })) {
      const split = splitOf.get(byKey.get(`${sample.folder}/${sample.id}`)!)!;
      await writer(split, 'ecg').append(sample.ecg);
      await writer(split, 'vm').append(sample.vm);
      ids[split].push(sample.id);
      folders[split].push(sample.folder);
      done++;
      bytes += sample.ecg.byteLength + sample.vm.byteLength;
      emit({ status: 'convert', done, total: listing.pairs.length, bytes });
    }
    if (done === 0) throw new InputError('bad_dataset', `${root}: every pair was damaged; nothing to write`);

    // 3. Finish the files, then publish: old index out first, data files in, new index last.
    emit({ status: 'finalise' });
    const splits = {} as Record<SplitName, CacheSplitIndex>;
    for (const split of SPLITS) {
      const info = async (kind: SignalKind) => {
        const w = writer(split, kind);
        return { file: cacheFileName(split, kind), bytes: w.bytes, sha256: await w.finish() };
      };
      const ecg = await info('ecg');
      const vm = await info('vm');
      splits[split] = { count: ids[split].length, ecg, vm, ids: ids[split], folders: folders[split] };
    }
    await rm(resolve(out, CACHE_INDEX_FILE), { force: true });
    for (const w of writers.values()) await rename(w.tempPath, w.finalPath);
    writers.clear();

    const perFolder: Record<string, Record<SplitName, number>> = {};
    for (const split of SPLITS) {
      for (const folder of folders[split]) {
        perFolder[folder] ??= { train: 0, val: 0, test: 0 };
        perFolder[folder][split]++;
      }
    }
    const counts = {
      train: splits.train.count,
      val: splits.val.count,
      test: splits.test.count,
      total: done,
    };
    const index: CacheIndex = {
      format: CACHE_FORMAT,
      version: CACHE_VERSION,
      source: { root, folders: listing.folders },
      dtype: 'float32',
      byteOrder: 'little',
      ecg: { shape: ['N', N_LEADS, N_STEPS], units: 'mV', leads: LEAD_NAMES },
      vm: { shape: ['N', N_SITES, N_STEPS], units: 'mV', sites: 'order of data/heart/points.csv' },
      split: { rule: SPLIT_RULE, fractions: SPLIT_FRACTIONS },
      counts,
      perFolder,
      splits,
      skipped,
    };
    await writeFileAtomic(
      resolve(out, CACHE_INDEX_FILE),
      new TextEncoder().encode(`${JSON.stringify(index, null, 1)}\n`),
    );
    emit({ status: 'done', counts, skipped: skipped.length });
    return index;
  } finally {
    for (const w of writers.values()) await w.abandon();
  }
}

const USAGE = `usage: npm run prepare-data -- --from <intracardiac_dataset> --out <dir> [--skip-bad] [--folders a,b,...]

  --from <dir>      the unpacked data set (holding the data_hearts_dd_0p2* folders)
  --out <dir>       cache folder to write (e.g. data/llnl); an existing cache there is replaced
  --skip-bad        skip damaged or unpaired files (listed in index.json) instead of stopping
  --folders <list>  comma-separated folder names under --from to convert (default: all)
  -h, --help        show this help`;

function formatMb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

/** Prints progress to stderr: a rewritten line on a terminal, a line per 5% otherwise. */
function progressPrinter(stream: NodeJS.WriteStream): (e: PrepareProgress) => void {
  const started = Date.now();
  let lastDraw = 0;
  let lastPercent = 0;
  return (e) => {
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    switch (e.status) {
      case 'scan':
        stream.write(`prepare-data: ${e.pairs} pairs in ${e.folders} folders\n`);
        break;
      case 'skip':
        stream.write(`${stream.isTTY ? '\n' : ''}prepare-data: skipping ${e.path}: ${e.reason}\n`);
        break;
      case 'convert': {
        const percent = Math.floor((100 * e.done) / e.total);
        const line = `prepare-data: ${e.done}/${e.total} pairs (${percent}%), ${formatMb(e.bytes)} written, ${seconds} s`;
        if (stream.isTTY) {
          const now = Date.now();
          if (now - lastDraw > 200 || e.done === e.total) {
            stream.write(`\r${line}`);
            lastDraw = now;
          }
          if (e.done === e.total) stream.write('\n');
        } else if (Math.floor(percent / 5) > Math.floor(lastPercent / 5) || e.done === e.total) {
          stream.write(`${line}\n`);
          lastPercent = percent;
        }
        break;
      }
      case 'finalise':
        stream.write('prepare-data: syncing and publishing the cache\n');
        break;
      case 'done':
        stream.write(
          `prepare-data: done in ${seconds} s: train ${e.counts.train}, val ${e.counts.val}, test ${e.counts.test}` +
            (e.skipped > 0 ? `; ${e.skipped} file(s) skipped (listed in ${CACHE_INDEX_FILE})` : '') +
            '\n',
        );
        break;
    }
  };
}

/** CLI entry; returns the exit code (0 ok, 1 bad data, 2 bad flags). User errors print no stack trace. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const stderr = process.stderr;
  let values: { from?: string; out?: string; 'skip-bad'?: boolean; folders?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        from: { type: 'string' },
        out: { type: 'string' },
        'skip-bad': { type: 'boolean' },
        folders: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    stderr.write(`prepare-data: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const missing = (['from', 'out'] as const).filter((k) => !values[k]);
  if (missing.length > 0) {
    stderr.write(`prepare-data: missing ${missing.map((k) => `--${k} <dir>`).join(' and ')}\n${USAGE}\n`);
    return 2;
  }
  const folders = values.folders
    ?.split(',')
    .map((f) => f.trim())
    .filter((f) => f.length > 0);
  if (folders?.length === 0) {
    stderr.write(`prepare-data: --folders needs at least one folder name\n${USAGE}\n`);
    return 2;
  }
  try {
    await prepareData({
      from: values.from!,
      out: values.out!,
      skipBad: values['skip-bad'] ?? false,
      ...(folders ? { folders } : {}),
      onProgress: progressPrinter(stderr),
    });
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    // InputError: the data is wrong. A system error (EACCES, ENOSPC…) on --out: the machine is. Both are
    // the user's to fix, so they get a message; anything else is a bug and keeps its stack.
    if (err instanceof InputError || (typeof code === 'string' && code.startsWith('E'))) {
      stderr.write(`${stderr.isTTY ? '\n' : ''}prepare-data: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
