/**
 * @module
 * The embedded default data: simulate a synthetic set in the real on-disk layout once, convert it into
 * the training cache, and reuse both while the cache is complete (index.json is written last).
 * Processes asking for the same set at once (parallel test files) take turns through a lock file, so
 * one simulates and the others wait and reuse its cache.
 */

import { spawnSync } from 'node:child_process';
import { access, mkdir, open, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ApMode, DATA_VERSION, generate } from '@ecg-tmp/simulator';
import { CACHE_INDEX_FILE } from './data.ts';
import { prepareData } from './prepare-data.ts';

/**
 * The repository root: three folders above this file, or ECG_TMP_ROOT when set — by code bundled away
 * from the sources (benchmarks/gpu-run.ts in ../shared/gpu/pack.sh's .gpu/), which has no npm to run
 * the simulator with either, so it simulates in this process.
 */
export const ROOT = process.env.ECG_TMP_ROOT
  ? resolve(process.env.ECG_TMP_ROOT)
  : resolve(fileURLToPath(new URL('../../..', import.meta.url)));

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Returns the cache folder of `count` synthetic pairs under `seed`, simulating them first if needed.
 * @example
 * const dir = await syntheticCache({ count: 400, seed: 1, dataDir: 'data' }); // data/synthetic-d3-s1-n400-cache
 * await syntheticCache({ count: 400, seed: 1, dataDir: 'data', ap: 'fixed' }); // data/synthetic-d3-apfixed-s1-n400-cache
 */
export async function syntheticCache(options: {
  count: number;
  seed: number;
  dataDir: string;
  /** The simulator's --ap: 'drawn' per heart (default) or 'fixed' (the fixed-AP variant, named apfixed). */
  ap?: ApMode;
  log?: (line: string) => void;
}): Promise<string> {
  // The simulator's data version in the name: a set an older simulator made is other data.
  const variant = options.ap === 'fixed' ? '-apfixed' : '';
  const raw = join(
    resolve(options.dataDir),
    `synthetic-d${DATA_VERSION}${variant}-s${options.seed}-n${options.count}`,
  );
  const cacheDir = `${raw}-cache`;
  if (await exists(join(cacheDir, CACHE_INDEX_FILE))) return cacheDir;
  await mkdir(resolve(options.dataDir), { recursive: true });
  return withLock(`${raw}.lock`, async () => {
    if (await exists(join(cacheDir, CACHE_INDEX_FILE))) return cacheDir;
    await simulate(raw, cacheDir, options);
    return cacheDir;
  });
}

/** A lock older than this is left over from a killed process. */
const STALE_LOCK_MS = 15 * 60_000;

async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      await (await open(path, 'wx')).close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) await rm(path, { force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

async function simulate(
  raw: string,
  cacheDir: string,
  options: { count: number; seed: number; ap?: ApMode; log?: (line: string) => void },
): Promise<void> {
  const fixed = options.ap === 'fixed';
  options.log?.(
    `simulating ${options.count} pairs (seed ${options.seed}${fixed ? ', fixed action potentials' : ''}) into ${raw}`,
  );
  if (process.env.ECG_TMP_ROOT) {
    await generate({
      out: raw,
      count: options.count,
      seed: options.seed,
      simulate: fixed ? { ap: 'fixed' } : {},
    });
    await prepareData({ from: raw, out: cacheDir });
    return;
  }
  const sim = spawnSync(
    'npm',
    [
      'run',
      '--silent',
      'simulate',
      '--',
      '--count',
      String(options.count),
      '--seed',
      String(options.seed),
      '--out',
      raw,
      ...(fixed ? ['--ap', 'fixed'] : []),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT },
  );
  if (sim.status !== 0) throw new Error(`the simulator failed (exit ${sim.status})`);
  await prepareData({ from: raw, out: cacheDir });
}
