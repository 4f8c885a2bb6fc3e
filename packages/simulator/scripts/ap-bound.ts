/**
 * @module
 * The information bound of the action potential: how well can any model reconstruct the 75-site Vm
 * from an ECG that tells it the heart's activation exactly but nothing about its AP parameters?
 *
 *   npm run bound                                         # test split of the default synthetic set, both variants
 *   npm run bound -- --pairs 40 --draws 16 --ap drawn     # smaller
 *   npm run bound -- --draw-base 1000                     # the same pairs with other AP draws
 *
 * Protocol. The pairs are the test split of the trainer's default synthetic set (simulator seed 1, 2000
 * pairs; split by the trainer's own rule, assignSplits in packages/trainer/src/prepare-data.ts), the
 * first M in index order. Each pair is simulated again K times with the same heart (variant, activation,
 * scar) and fresh AP parameters (SimulateOptions.apDraw = B+1 … B+K). With the AP parameters unknown,
 * the best predictor under squared error is the mean over the AP distribution given the activation;
 * the mean of the K draws estimates it. Reported, pooled over all pairs, sites and steps on the
 * vm-affine scale (core's MetricsAccumulator):
 * - bound: R² of the mean of the K draws against the truth;
 * - bound, K → ∞: the same with the mean's own sampling error removed (its SSE minus Σ s²/K, s² the
 *   unbiased variance of the K draws), since a finite K makes the mean a little noisier than the
 *   conditional mean;
 * - single draw: R² of one fresh draw against the truth (all K draws scored, pooled) — a predictor that
 *   gets the activation right and guesses an AP.
 * The same is done for the fixed-AP variant (`ap: 'fixed'`), where nothing is drawn, so both scores
 * must come out 1. Results go to benchmarks/results/ap-bound.json and a table to stdout.
 */

import { execSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MetricsAccumulator, N_SITES, N_STEPS, normaliseVmValue } from '@ecg-tmp/core';
import type { SplitName } from '../../trainer/src/data.ts';
// The split rule has one home, the trainer's data preparation; its module loads only core.
import { assignSplits } from '../../trainer/src/prepare-data.ts';
import { samplePaths } from '../src/output.ts';
import { STREAM, samplePrng } from '../src/prng.ts';
import { createProgress } from '../src/progress.ts';
import { anchors, drawParams } from '../src/scenarios.ts';
import { AP_MODES, type ApMode, createSimulator, type Simulator, sampleName } from '../src/simulator.ts';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const RESULT_FILE = resolve(ROOT, 'benchmarks/results/ap-bound.json');

export interface BoundOptions {
  /** Simulator seed and size of the set the pairs come from (the trainer's default: seed 1, 2000). */
  readonly seed: number;
  readonly count: number;
  readonly split: SplitName;
  /** M: the first `pairs` of the split in index order (default: all of them). */
  readonly pairs?: number;
  /** K: AP redraws per pair. */
  readonly draws: number;
  /** B: the redraws are apDraw B+1 … B+K. */
  readonly drawBase: number;
  readonly ap: readonly ApMode[];
  readonly onPair?: () => void;
}

export interface Score {
  readonly r2: number;
  /** Mean absolute error on the vm-affine scale. */
  readonly mae: number;
}

export interface BoundRow {
  readonly ap: ApMode;
  readonly pairs: number;
  readonly draws: number;
  readonly bound: Score;
  readonly boundInfiniteK: number;
  readonly singleDraw: Score;
  /** The bound's R² per scenario class, with its pair count. */
  readonly boundByVariant: Readonly<Record<string, { pairs: number; r2: number }>>;
  readonly seconds: number;
}

/**
 * Indices of the set's pairs in one split, ascending: the trainer's rule applied to the names and
 * folders the simulator would write (drawing each sample's variant costs no simulation).
 * @example
 * splitIndices(sim, 1, 2000, 'test'); // the ~200 test pairs of the default synthetic set
 */
export function splitIndices(sim: Simulator, seed: number, count: number, split: SplitName): number[] {
  const anchor = anchors(sim.mesh);
  const pairs = Array.from({ length: count }, (_, index) => {
    const { variant } = drawParams(samplePrng(seed, index, STREAM.physics), sim.mesh, anchor);
    const name = sampleName(variant, seed, index);
    return {
      index,
      id: name,
      folder: basename(samplePaths('', { name, variant }).folder),
      ecgPath: '',
      vmPath: '',
    };
  });
  const splits = assignSplits(pairs);
  return pairs.filter((_, i) => splits[i] === split).map((p) => p.index);
}

function normalised(vm: Float64Array): Float64Array {
  return vm.map((v) => normaliseVmValue(v, 'vm-affine'));
}

/** Measures the bound and the single-draw score for each AP mode in `options.ap`. */
export function measureApBound(sim: Simulator, options: BoundOptions): BoundRow[] {
  const { seed, draws: K, drawBase } = options;
  if (K < 2) throw new RangeError(`draws must be at least 2, got ${K}`);
  const all = splitIndices(sim, seed, options.count, options.split);
  const indices = all.slice(0, options.pairs ?? all.length);
  const size = N_STEPS * N_SITES;
  return options.ap.map((ap) => {
    const t0 = performance.now();
    const bound = new MetricsAccumulator({ spearman: false });
    const single = new MetricsAccumulator({ spearman: false });
    const byVariant = new Map<string, MetricsAccumulator>();
    const mean = new Float64Array(size);
    const sumSq = new Float64Array(size);
    let samplingError = 0;
    for (const index of indices) {
      const own = sim.simulate(seed, index, { ap });
      const truth = normalised(own.vm);
      mean.fill(0);
      sumSq.fill(0);
      for (let k = 1; k <= K; k++) {
        const draw = normalised(sim.simulate(seed, index, { ap, apDraw: drawBase + k }).vm);
        single.add(truth, draw);
        for (let j = 0; j < size; j++) {
          mean[j]! += draw[j]!;
          sumSq[j]! += draw[j]! * draw[j]!;
        }
      }
      for (let j = 0; j < size; j++) {
        mean[j]! /= K;
        samplingError += Math.max(0, sumSq[j]! - K * mean[j]! * mean[j]!) / (K - 1) / K;
      }
      bound.add(truth, mean);
      const group = byVariant.get(own.variant) ?? new MetricsAccumulator({ spearman: false });
      group.add(truth, mean);
      byVariant.set(own.variant, group);
      options.onPair?.();
    }
    const b = bound.result();
    const s = single.result();
    // SST = SSE / (1 − R²) of the same targets; the K → ∞ estimate removes the mean's sampling error.
    const sse = b.mse * b.count;
    const boundInfiniteK = b.r2 === 1 ? 1 : 1 - ((1 - b.r2) * Math.max(0, sse - samplingError)) / sse;
    return {
      ap,
      pairs: indices.length,
      draws: K,
      bound: { r2: b.r2, mae: b.mae },
      boundInfiniteK,
      singleDraw: { r2: s.r2, mae: s.mae },
      boundByVariant: Object.fromEntries(
        [...byVariant].sort().map(([v, acc]) => {
          const { count, r2 } = acc.result();
          return [v, { pairs: count / size, r2 }];
        }),
      ),
      seconds: (performance.now() - t0) / 1000,
    };
  });
}

/** The printed table. */
export function boundTable(rows: readonly BoundRow[]): string {
  const lines = [
    '| AP | pairs M | draws K | bound R² (mean of K) | bound R², K → ∞ | single draw R² | time |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.ap} | ${r.pairs} | ${r.draws} | ${r.bound.r2.toFixed(4)} | ${r.boundInfiniteK.toFixed(4)} | ` +
        `${r.singleDraw.r2.toFixed(4)} | ${r.seconds.toFixed(0)} s |`,
    ),
  ];
  return lines.join('\n');
}

const USAGE = `Usage: npm run bound -- [options]

  --pairs M        first M pairs of the split (default: all)
  --draws K        AP redraws per pair (default 24)
  --ap MODE        drawn, fixed or both (default both)
  --seed S         simulator seed of the set (default 1, the trainer's synthetic set)
  --count N        pairs in the set, which fixes the split (default 2000, the trainer's default)
  --split NAME     train, val or test (default test)
  --draw-base B    use AP redraws B+1 … B+K (default 0)
  --out FILE       result JSON (default benchmarks/results/ap-bound.json)
  --quiet          no progress bar`;

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      pairs: { type: 'string' },
      draws: { type: 'string', default: '24' },
      ap: { type: 'string', default: 'both' },
      seed: { type: 'string', default: '1' },
      count: { type: 'string', default: '2000' },
      split: { type: 'string', default: 'test' },
      'draw-base': { type: 'string', default: '0' },
      out: { type: 'string', default: RESULT_FILE },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const int = (flag: string, text: string | undefined, min: number): number => {
    if (text === undefined || !/^\d+$/.test(text) || Number(text) < min)
      throw new RangeError(`--${flag} expects an integer ≥ ${min}, got '${text}'`);
    return Number(text);
  };
  const ap: readonly ApMode[] = values.ap === 'both' ? AP_MODES : AP_MODES.filter((m) => m === values.ap);
  if (ap.length === 0) throw new RangeError(`--ap expects drawn, fixed or both, got '${values.ap}'`);
  if (!['train', 'val', 'test'].includes(values.split)) {
    throw new RangeError(`--split expects train, val or test, got '${values.split}'`);
  }
  const sim = createSimulator();
  const options: BoundOptions = {
    seed: int('seed', values.seed, 0),
    count: int('count', values.count, 1),
    split: values.split as SplitName,
    ...(values.pairs === undefined ? {} : { pairs: int('pairs', values.pairs, 1) }),
    draws: int('draws', values.draws, 2),
    drawBase: int('draw-base', values['draw-base'], 0),
    ap,
  };
  const splitSize = splitIndices(sim, options.seed, options.count, options.split).length;
  const progress = createProgress(Math.min(options.pairs ?? splitSize, splitSize) * ap.length, {
    enabled: !values.quiet,
  });
  const rows = measureApBound(sim, { ...options, onPair: () => progress.tick() });
  progress.done();
  const commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
  const result = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    node: process.version,
    commit,
    set: { seed: options.seed, count: options.count, split: options.split, splitPairs: splitSize },
    drawBase: options.drawBase,
    scale: 'vm-affine, pooled over pairs × 500 steps × 75 sites',
    rows,
  };
  await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `AP information bound — seed ${options.seed}, ${options.count} pairs, ${options.split} split ` +
      `(${splitSize} pairs), redraws ${options.drawBase + 1}…${options.drawBase + options.draws}, commit ${commit}\n\n` +
      `${boundTable(rows)}\n\nwrote ${values.out}\n`,
  );
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
