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
 * The early ECG does see a little of the AP: the upstroke's height and the spike and notch that follow
 * scale the first 10 ms (a full redraw changes them by ~5% RMS). So the same is measured again with
 * redraws that keep the sample's own upstroke (apKeep 'upstroke': rest, peak, plateau start, notch),
 * which leave the first 10 ms of ECG unchanged to ~0.001%: that bound holds for any predictor from the
 * first 10 ms of ECG, however much of the activation it recovers.
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
import { isMainModule } from '@ecg-tmp/core/node';
import type { SplitName } from '../../trainer/src/data.ts';
// The split rule has one home, the trainer's data preparation; its module loads only core.
import { assignSplits } from '../../trainer/src/prepare-data.ts';
import { samplePaths } from '../src/output.ts';
import { STREAM, samplePrng } from '../src/prng.ts';
import { createProgress } from '../src/progress.ts';
import { anchors, drawParams } from '../src/scenarios.ts';
import { AP_MODES, type ApMode, createSimulator, type Simulator, sampleName } from '../src/simulator.ts';
import { DATA_VERSION } from '../src/version.ts';

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

/** The scores of one kind of redraw. */
export interface RedrawScores {
  /** The mean of the K redraws against the truth. */
  readonly bound: Score;
  /** The bound's R² with the mean's sampling error removed. */
  readonly boundInfiniteK: number;
  /** Each redraw against the truth, pooled. */
  readonly singleDraw: Score;
  /** The bound's R² per scenario class, with its pair count. */
  readonly boundByVariant: Readonly<Record<string, { pairs: number; r2: number }>>;
}

export interface BoundRow {
  readonly ap: ApMode;
  readonly pairs: number;
  readonly draws: number;
  /** Every AP parameter redrawn. */
  readonly allRedrawn: RedrawScores;
  /** The sample's own upstroke kept (apKeep 'upstroke'): the first 10 ms of ECG unchanged. Only for
   * drawn APs; with fixed ones nothing is drawn. */
  readonly upstrokeKept: RedrawScores | null;
  readonly seconds: number;
}

const SIZE = N_STEPS * N_SITES;

/** Accumulates one kind of redraw over the pairs. */
class RedrawScorer {
  private readonly bound = new MetricsAccumulator({ spearman: false });
  private readonly single = new MetricsAccumulator({ spearman: false });
  private readonly byVariant = new Map<string, MetricsAccumulator>();
  private readonly mean = new Float64Array(SIZE);
  private readonly sumSq = new Float64Array(SIZE);
  private samplingError = 0;

  /** Scores the K redraws of one pair against its truth. */
  addPair(truth: Float64Array, variant: string, draws: readonly Float64Array[]): void {
    const { mean, sumSq } = this;
    const K = draws.length;
    mean.fill(0);
    sumSq.fill(0);
    for (const draw of draws) {
      this.single.add(truth, draw);
      for (let j = 0; j < SIZE; j++) {
        mean[j]! += draw[j]!;
        sumSq[j]! += draw[j]! * draw[j]!;
      }
    }
    for (let j = 0; j < SIZE; j++) {
      mean[j]! /= K;
      // Variance of the mean = s² / K, s² the unbiased variance of the K draws.
      this.samplingError += Math.max(0, sumSq[j]! - K * mean[j]! * mean[j]!) / (K - 1) / K;
    }
    this.bound.add(truth, mean);
    const group = this.byVariant.get(variant) ?? new MetricsAccumulator({ spearman: false });
    group.add(truth, mean);
    this.byVariant.set(variant, group);
  }

  result(): RedrawScores {
    const b = this.bound.result();
    const s = this.single.result();
    // SST = SSE / (1 − R²) of the same targets; the K → ∞ estimate removes the mean's sampling error.
    const sse = b.mse * b.count;
    const boundInfiniteK = b.r2 === 1 ? 1 : 1 - ((1 - b.r2) * Math.max(0, sse - this.samplingError)) / sse;
    return {
      bound: { r2: b.r2, mae: b.mae },
      boundInfiniteK,
      singleDraw: { r2: s.r2, mae: s.mae },
      boundByVariant: Object.fromEntries(
        [...this.byVariant].sort().map(([v, acc]) => {
          const { count, r2 } = acc.result();
          return [v, { pairs: count / SIZE, r2 }];
        }),
      ),
    };
  }
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
  return options.ap.map((ap) => {
    const t0 = performance.now();
    const kinds = ap === 'drawn' ? (['none', 'upstroke'] as const) : (['none'] as const);
    const scorers = kinds.map(() => new RedrawScorer());
    for (const index of indices) {
      const own = sim.simulate(seed, index, { ap });
      const truth = normalised(own.vm);
      kinds.forEach((apKeep, i) => {
        const draws = Array.from({ length: K }, (_, k) =>
          normalised(sim.simulate(seed, index, { ap, apDraw: drawBase + k + 1, apKeep }).vm),
        );
        scorers[i]!.addPair(truth, own.variant, draws);
      });
      options.onPair?.();
    }
    return {
      ap,
      pairs: indices.length,
      draws: K,
      allRedrawn: scorers[0]!.result(),
      upstrokeKept: scorers[1]?.result() ?? null,
      seconds: (performance.now() - t0) / 1000,
    };
  });
}

/** The printed table. */
export function boundTable(rows: readonly BoundRow[]): string {
  const f = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(4));
  const lines = [
    '| AP | pairs M | draws K | bound R² (mean of K) | bound, K → ∞ | single draw | upstroke kept: bound, K → ∞ | single draw | time |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.ap} | ${r.pairs} | ${r.draws} | ${f(r.allRedrawn.bound.r2)} | ${f(r.allRedrawn.boundInfiniteK)} | ` +
        `${f(r.allRedrawn.singleDraw.r2)} | ${f(r.upstrokeKept?.boundInfiniteK)} | ` +
        `${f(r.upstrokeKept?.singleDraw.r2)} | ${r.seconds.toFixed(0)} s |`,
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
  // Figures from uncommitted simulator sources say so.
  const modified = execSync('git status --porcelain -- packages/simulator/src packages/core/src', {
    cwd: ROOT,
  })
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  const result = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    node: process.version,
    commit,
    modifiedSources: modified,
    dataVersion: DATA_VERSION,
    set: { seed: options.seed, count: options.count, split: options.split, splitPairs: splitSize },
    drawBase: options.drawBase,
    scale: 'vm-affine, pooled over pairs × 500 steps × 75 sites',
    rows,
  };
  await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `AP information bound — seed ${options.seed}, ${options.count} pairs, ${options.split} split ` +
      `(${splitSize} pairs), redraws ${options.drawBase + 1}…${options.drawBase + options.draws}, ` +
      `simulator data version ${DATA_VERSION}, commit ${commit}` +
      `${modified.length > 0 ? ` + uncommitted ${modified.join(', ')}` : ''}\n\n` +
      `${boundTable(rows)}\n\nwrote ${values.out}\n`,
  );
  return 0;
}

if (isMainModule(import.meta.url)) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
