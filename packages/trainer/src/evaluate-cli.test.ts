import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METRIC_NAMES, N_SITES, N_STEPS } from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULTS, preset, type TrainConfig } from './config.ts';
import { readCacheIndex } from './data.ts';
import { EVAL_DIR, type EvalResults, main, PAPER } from './evaluate-cli.ts';
import { ROOT, syntheticCache } from './synthetic.ts';
import { BEST_FILE, CHECKPOINT_FILE, train } from './train.ts';

/** Runs the CLI with stdout and stderr captured. */
async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => out.push(String(c)) > 0);
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => err.push(String(c)) > 0);
  try {
    const code = await main(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

async function readResults(run: string): Promise<EvalResults> {
  return JSON.parse(await readFile(join(run, EVAL_DIR, 'results.json'), 'utf8')) as EvalResults;
}

describe('npm run evaluate', () => {
  let dir: string;
  let run: string;
  let testCount: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ecg-evaluate-'));
    run = join(dir, 'cnn');
    // data/ is git-ignored and the synthetic cache there is reused by later test runs.
    const data = await syntheticCache({ count: 40, seed: 3, dataDir: join(ROOT, 'data') });
    testCount = (await readCacheIndex(data)).counts.test;
    await train({
      ...DEFAULTS,
      ...preset('squeezenet1d'),
      model: 'squeezenet1d',
      out: run,
      data,
      backend: 'wasm',
      epochs: 1,
      batch: 4,
      trainLimit: 8,
      valLimit: 4,
      maxSteps: 2,
    } as TrainConfig);
  });

  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('scores a run under Exp I and II and writes the results and plots', async () => {
    const { code, stdout } = await cli([run, '--limit', '4']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/\| Metric \| Exp I \| Exp II \| Paper Exp I \| Paper Exp II \|/);
    expect(stdout).toMatch(/\| MAE ↓ \| \d\.\d{4} \| \d\.\d{4} \| 0\.0733 \| 0\.4785 \|/);
    expect((await readdir(join(run, EVAL_DIR))).sort()).toEqual([
      'activation.svg',
      'repolarisation.svg',
      'results.json',
      'results.md',
      'tmp-exp1.svg',
      'tmp-exp2.svg',
    ]);
    const r = await readResults(run);
    const samples = Math.min(4, testCount);
    expect(r.model).toBe('squeezenet1d');
    expect(r.run.step).toBe(2);
    expect(r.evaluation).toMatchObject({ split: 'test', samples, backend: 'wasm', input: { full: 'full' } });
    for (const exp of ['full', 'limited'] as const) {
      const m = r.metrics[exp]!;
      expect(m.count).toBe(samples * N_SITES * N_STEPS);
      for (const k of METRIC_NAMES) expect(Number.isFinite(m[k])).toBe(true);
      // Every (sample, site) is a pair unless the data or the prediction never activates there.
      const a = r.activation[exp]!;
      expect(a.pairs + a.notActivated.true + a.notActivated.predicted).toBeGreaterThanOrEqual(
        samples * N_SITES,
      );
      // |mean signed error| ≤ mean |error|, and both exist exactly when some pair does.
      expect(a.biasMs === null).toBe(a.pairs === 0);
      if (a.biasMs !== null) expect(Math.abs(a.biasMs)).toBeLessThanOrEqual(a.maeMs! + 1e-9);
      const p = r.repolarisation[exp]!;
      expect(p.pairs + p.notRepolarised.true + p.notRepolarised.predicted).toBeGreaterThanOrEqual(
        samples * N_SITES,
      );
      // A site that does not activate cannot repolarise.
      expect(p.notRepolarised.true).toBeGreaterThanOrEqual(a.notActivated.true);
      expect(p.notRepolarised.predicted).toBeGreaterThanOrEqual(a.notActivated.predicted);
      expect(p.apdMaeMs === null).toBe(p.pairs === 0);
    }
    // The simulator's APs end within the window at most sites; the truth is the same in both experiments.
    expect(r.repolarisation.full!.notRepolarised.true).toBeLessThan((samples * N_SITES) / 2);
    expect(r.repolarisation.limited!.notRepolarised.true).toBe(r.repolarisation.full!.notRepolarised.true);
    expect(r.paper).toEqual(PAPER.squeezenet1d);
    // 2 samples × 4 sites, a true and a predicted trace each.
    const tmp = await readFile(join(run, EVAL_DIR, 'tmp-exp1.svg'), 'utf8');
    expect(tmp.match(/<g class="panel"/g)).toHaveLength(2 * 4);
    expect(tmp.match(/<g class="series"/g)).toHaveLength(2 * 4 * 2);
    const at = await readFile(join(run, EVAL_DIR, 'activation.svg'), 'utf8');
    expect(at.match(/<g class="panel"/g)).toHaveLength(2);
    const rt = await readFile(join(run, EVAL_DIR, 'repolarisation.svg'), 'utf8');
    expect(rt.match(/<g class="panel"/g)).toHaveLength(2);
    expect(rt).toContain('predicted repolarisation time (ms)');
    const md = await readFile(join(run, EVAL_DIR, 'results.md'), 'utf8');
    expect(md).toContain('| R² ↑ |');
    expect(md).toMatch(
      /Repolarisation times[^\n]*\n\n- Exp I: MAE (—|\d+\.\d ms), APD \(repolarisation − activation\) MAE/,
    );
    expect(md).toContain('![Repolarisation times](repolarisation.svg)');
    // The spread across ECGs: the truth's is the same in both experiments, each ratio is predicted ÷ true.
    const spread = r.spread!;
    expect(spread.limited!.truth).toBe(spread.full!.truth);
    expect(spread.full!.truth).toBeGreaterThan(0);
    for (const exp of ['full', 'limited'] as const)
      expect(spread[exp]!.ratio).toBeCloseTo(spread[exp]!.predicted / spread[exp]!.truth, 10);
    expect(md).toMatch(/Spread \(how much[^\n]*\n\n- Exp I: \d+\.\d{4} \(predicted \d+\.\d{4}, true/);
  });

  it('--weights last evaluates the latest checkpoint.bin instead of best.bin, and says so', async () => {
    const copy = join(dir, 'latest-only');
    await mkdir(copy, { recursive: true });
    await copyFile(join(run, CHECKPOINT_FILE), join(copy, CHECKPOINT_FILE));
    const refused = await cli([copy, '--limit', '2', '--exp', '1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/has no best\.bin/);
    const { code, stdout } = await cli([copy, '--weights', 'last', '--limit', '2', '--exp', '1']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/checkpoint\.bin at step 2/);
    const r = await readResults(copy);
    expect(r.run.weights).toBe(CHECKPOINT_FILE);
    expect(r.run.step).toBe(2);
  });

  it('--data evaluates the run on another cache and records which', async () => {
    const other = await syntheticCache({ count: 40, seed: 5, dataDir: join(ROOT, 'data') });
    // A copy of the run: evaluate writes into the run folder, and the next test reads the first one's results.
    const copy = join(dir, 'other-data');
    await mkdir(copy, { recursive: true });
    await copyFile(join(run, BEST_FILE), join(copy, BEST_FILE));
    const { code } = await cli([copy, '--split', 'val', '--limit', '3', '--exp', '1', '--data', other]);
    expect(code).toBe(0);
    const r = await readResults(copy);
    expect(r.evaluation).toMatchObject({ split: 'val', dataset: other, samples: 3 });
    // The run's own data set is still what it was trained on.
    expect(r.run.dataset).not.toBe(other);
    // Scored on the other set's pairs: not the figures of the run's own validation pairs.
    const { code: ownCode } = await cli([copy, '--split', 'val', '--limit', '3', '--exp', '1']);
    expect(ownCode).toBe(0);
    const own = await readResults(copy);
    expect(own.evaluation.dataset).toBe(own.run.dataset);
    expect(own.metrics.full!.mse).not.toBe(r.metrics.full!.mse);
    // The training split too (how well the run fits what it learned from): its own pairs, recorded as such.
    const { code: trainCode } = await cli([copy, '--split', 'train', '--limit', '3', '--exp', '1']);
    expect(trainCode).toBe(0);
    const fitted = await readResults(copy);
    expect(fitted.evaluation).toMatchObject({ split: 'train', samples: 3 });
    expect(fitted.metrics.full!.mse).not.toBe(own.metrics.full!.mse);
  });

  it('compares runs, evaluating those without results first', async () => {
    const copy = join(dir, 'copy');
    await mkdir(copy);
    await copyFile(join(run, BEST_FILE), join(copy, BEST_FILE));
    const out = join(dir, 'tables', 'compare.md');
    const { code, stdout } = await cli(['--compare', run, copy, '--out', out, '--exp', '2', '--limit', '2']);
    expect(code).toBe(0);
    expect((await readResults(copy)).evaluation.samples).toBe(Math.min(2, testCount));
    expect((await readResults(copy)).metrics.full).toBeUndefined();
    const md = await readFile(out, 'utf8');
    expect(stdout).toBe(md);
    expect(md).toContain('| Exp I | 1D CNN (cnn) | paper | 1D CNN (copy) | paper |');
    expect(md).toMatch(/\| MAE ↓ \| \d\.\d{4} \| 0\.0733 \| — \| 0\.0733 \|/);
    expect(md).toMatch(/\| Spearman ↑ \| -?\d\.\d{4} \| -0\.0347 \| -?\d\.\d{4} \| -0\.0347 \|/);
    const json = JSON.parse(await readFile(join(dir, 'tables', 'compare.json'), 'utf8'));
    expect(json.runs).toHaveLength(2);
    expect(json.paper.squeezenet1d.full.mae).toBe(0.0733);
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [[], /no run folder given/],
    [['runs/does-not-exist'], /run folder runs\/does-not-exist does not exist/],
    [['EMPTY'], /has no best\.bin/],
    [['RUN', '--exp', '3'], /--exp must be 1 \(full time\) or 2 \(limited time\), got '3'/],
    [['RUN', '--split', 'training'], /--split must be test, val or train, got 'training'/],
    [['RUN', '--limit', '0'], /--limit must be an integer ≥ 1/],
    [
      ['RUN', '--weights', 'newest'],
      /--weights must be best \(best\.bin\) or last \(checkpoint\.bin\), got 'newest'/,
    ],
    [['RUN', '--backend', 'tpu'], /unknown --backend 'tpu'. Expected one of: webgpu, wasm, cpu/],
    [['RUN', '--data', 'EMPTY'], /--data .* is not a prepared cache \(no index\.json there\)/],
    [['RUN', 'RUN'], /one run folder at a time/],
    [['RUN', '--out', 'x.md'], /--out belongs to --compare/],
    [['--compare'], /--compare needs run folders/],
  ])('rejects %j with exit code 2 before any work', async (args, message) => {
    const empty = join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    const argv = args.map((a) => (a === 'RUN' ? run : a === 'EMPTY' ? empty : a));
    const { code, stdout, stderr } = await cli(argv);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('usage: npm run evaluate');
    expect(stdout).toBe('');
    expect(await readdir(empty)).toEqual([]);
  });
});
