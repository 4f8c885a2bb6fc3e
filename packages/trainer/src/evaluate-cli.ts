/**
 * @module
 * `npm run evaluate` — scores a trained run under the paper's two experiments, next to the paper's numbers,
 * and draws what it predicts; `--compare` puts several runs in one table.
 *
 *   npm run evaluate -- runs/lstm                                  # Exp I and II, test split
 *   npm run evaluate -- runs/tf --exp 2 --split val --limit 200 --backend webgpu
 *   npm run evaluate -- --compare runs/cnn runs/lstm runs/tf       # → runs/compare.md + runs/compare.json
 *   npm run evaluate -- --compare runs/cnn runs/lstm runs/tf --out docs/ours.md
 *
 * A run is evaluated from its best.bin on the split of the cache it was trained on; the backend is the
 * run's own unless --backend says otherwise. Exp I feeds the CNNs the whole ECG, Exp II only its first
 * 10 ms (zeros after); the Transformer reads the first 10 ms in both, as in the paper. The five metrics
 * are pooled over every normalised (vm-affine) TMP value of the split, the scale of the paper's tables.
 * Written to runs/<id>/eval/:
 *   results.md, results.json       metrics per experiment, run and evaluation details, the paper's numbers
 *   tmp-exp1.svg, tmp-exp2.svg     true vs predicted TMP (mV) at 4 sites of the first 2 samples
 *   activation.svg                 predicted vs true activation times (first Vm > 0 mV, ms), identity line
 *   repolarisation.svg             the same for repolarisation times (last fall below −60 mV, ms)
 * `--compare` reads each run's eval/results.json, evaluating the runs that have none first (with the flags
 * given), and writes the table to --out (default runs/compare.md) and the numbers to a .json beside it.
 * Bad arguments: a message and exit code 2 before any work.
 */

import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Architecture,
  activationTimes,
  denormaliseVm,
  InputError,
  METRIC_NAMES,
  type Metrics,
  N_LEADS,
  N_SITES,
  N_STEPS,
  NOT_ACTIVATED,
  NOT_REPOLARISED,
  repolarisationTimes,
  type Signal,
  type Spread,
} from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import * as tf from '@tensorflow/tfjs-core';
import { BACKENDS, BackendError, type BackendName, isBackendName, startBackend } from './backend.ts';
import { NORMALISATION, toChannelsFirst, toChannelsLast } from './batches.ts';
import { readCheckpoint } from './checkpoint.ts';
import { type CacheSplit, loadCacheSplit, readCacheIndex } from './data.ts';
import {
  type ActivationStats,
  activationStats,
  EXPERIMENTS,
  type Experiment,
  evaluate,
  type Predictor,
  type RepolarisationStats,
  repolarisationStats,
} from './evaluate.ts';
import type { Model } from './models/index.ts';
import { figureSvg, type Panel } from './plots.ts';
import { BEST_FILE, CHECKPOINT_FILE, loadRunModel, type RunState, runDataset } from './train.ts';

const USAGE = `usage: npm run evaluate -- runs/<id> [--exp 1|2] [--split test|val|train] [--weights best|last] [--limit N] [--data <cache dir>] [--backend ${BACKENDS.join('|')}]
       npm run evaluate -- --compare runs/<a> runs/<b> ... [--out runs/compare.md] [flags above, for runs not evaluated yet]`;

type MetricName = (typeof METRIC_NAMES)[number];
type MetricTable = Readonly<Record<MetricName, number>>;

/** The paper's test-set results (its two tables; the TMP apparently normalised). */
export const PAPER: Readonly<Record<Architecture, Readonly<Record<Experiment, MetricTable>>>> = {
  squeezenet1d: {
    full: { mae: 0.0733, mse: 0.0194, r2: 0.827, pearson: 0.9158, spearman: 0.8496 },
    limited: { mae: 0.4785, mse: 0.3392, r2: -2.0007, pearson: -0.1101, spearman: -0.0347 },
  },
  'cnn-lstm': {
    full: { mae: 0.0364, mse: 0.0063, r2: 0.9409, pearson: 0.9703, spearman: 0.9359 },
    limited: { mae: 0.3148, mse: 0.1618, r2: 0.4013, pearson: -0.5209, spearman: 0.0679 },
  },
  // The paper tests the Transformer from the first 10 ms in both experiments: one result, listed twice.
  transformer: {
    full: { mae: 0.0357, mse: 0.0069, r2: 0.9412, pearson: 0.9704, spearman: 0.903 },
    limited: { mae: 0.0357, mse: 0.0069, r2: 0.9412, pearson: 0.9704, spearman: 0.903 },
  },
};

const MODEL_NAMES: Readonly<Record<Architecture, string>> = {
  squeezenet1d: '1D CNN',
  'cnn-lstm': 'LSTM',
  transformer: 'Transformer',
};
const EXP_NAMES: Readonly<Record<Experiment, string>> = { full: 'Exp I', limited: 'Exp II' };
const EXP_FLAGS: ReadonlyMap<string, Experiment> = new Map([
  ['1', 'full'],
  ['2', 'limited'],
]);
const EXP_FILES: Readonly<Record<Experiment, string>> = { full: 'exp1', limited: 'exp2' };
const METRIC_LABELS: Readonly<Record<MetricName, string>> = {
  mae: 'MAE ↓',
  mse: 'MSE ↓',
  r2: 'R² ↑',
  pearson: 'Pearson ↑',
  spearman: 'Spearman ↑',
};

/** Spread over the 75 recording sites; the first 2 samples of the split are drawn at each. */
const PLOT_SITES = [0, 25, 50, 74] as const;
const PLOT_SAMPLES = 2;
/** Enough points to show the spread of activation (or repolarisation) times without a multi-megabyte SVG. */
const MAX_SCATTER_POINTS = 3000;

export const EVAL_DIR = 'eval';
export const RESULTS_JSON = 'results.json';
export const RESULTS_MD = 'results.md';

export interface EvaluateArgs {
  /** Absolute run folders: one, or several with --compare. */
  readonly runs: readonly string[];
  readonly compare: boolean;
  /** The --compare table (.md; the .json goes beside it). */
  readonly out: string;
  readonly experiments: readonly Experiment[];
  readonly split: 'test' | 'val' | 'train';
  readonly limit: number | undefined;
  readonly backend: BackendName | undefined;
  /**
   * Evaluate on this cache instead of the run's own data set: another variant of the same pairs (the
   * fixed-AP set and the default one hold the same hearts in the same splits), or another set.
   */
  readonly data?: string | undefined;
  /** Which weights: best.bin (the default, chosen on validation) or 'last', the run's latest checkpoint.bin. */
  readonly weights?: 'best' | 'last';
}

/** The file --weights names. */
function weightsFile(weights: 'best' | 'last' | undefined): typeof BEST_FILE | typeof CHECKPOINT_FILE {
  return weights === 'last' ? CHECKPOINT_FILE : BEST_FILE;
}

/** Contents of runs/<id>/eval/results.json. Metrics that are undefined (NaN) are stored as null. */
export interface EvalResults {
  readonly model: Architecture;
  readonly run: {
    readonly dir: string;
    readonly weights: typeof BEST_FILE | typeof CHECKPOINT_FILE;
    readonly step: number;
    /** Epochs completed when those weights were written, of `epochs` configured. */
    readonly epochsDone: number;
    readonly epochs: number;
    readonly bestEpoch: number | null;
    readonly trainMs: number;
    readonly seed: number;
    readonly trainedOn: { readonly backend: string; readonly device: string };
    readonly dataset: string;
  };
  readonly evaluation: {
    readonly split: 'test' | 'val' | 'train';
    /** The cache the split was read from (the run's own data set unless --data said otherwise). */
    readonly dataset?: string;
    readonly samples: number;
    readonly backend: BackendName;
    readonly device: string;
    readonly normalisation: typeof NORMALISATION;
    /** Which ECG the model read in each experiment (the Transformer: 'limited' in both). */
    readonly input: Partial<Record<Experiment, Experiment>>;
    readonly ms: number;
    readonly date: string;
  };
  readonly metrics: Partial<Record<Experiment, Record<keyof Metrics, number | null>>>;
  readonly activation: Partial<Record<Experiment, ActivationStats>>;
  readonly repolarisation: Partial<Record<Experiment, RepolarisationStats>>;
  /** How much the predictions vary across samples against the truth (core's Spread); absent in older results. */
  readonly spread?: Partial<Record<Experiment, Spread>>;
  readonly paper: Readonly<Record<Experiment, MetricTable>>;
}

function bad(message: string): InputError {
  return new InputError('bad_value', message);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Flags → checked arguments; every run folder is checked here, before anything is loaded. */
export async function parseEvaluateArgs(argv: readonly string[]): Promise<EvaluateArgs> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      exp: { type: 'string' },
      split: { type: 'string' },
      limit: { type: 'string' },
      backend: { type: 'string' },
      data: { type: 'string' },
      compare: { type: 'boolean' },
      out: { type: 'string' },
      weights: { type: 'string' },
    },
  });
  const compare = values.compare ?? false;
  const weights = values.weights ?? 'best';
  if (weights !== 'best' && weights !== 'last')
    throw bad(`--weights must be best (best.bin) or last (checkpoint.bin), got '${weights}'`);
  if (positionals.length === 0) throw bad(compare ? '--compare needs run folders' : 'no run folder given');
  if (!compare && positionals.length > 1) {
    throw bad(`one run folder at a time (got ${positionals.length}); to put runs side by side use --compare`);
  }
  if (!compare && values.out !== undefined) throw bad('--out belongs to --compare');
  const exp = values.exp === undefined ? undefined : EXP_FLAGS.get(values.exp);
  if (values.exp !== undefined && exp === undefined) {
    throw bad(`--exp must be 1 (full time) or 2 (limited time), got '${values.exp}'`);
  }
  const split = values.split ?? 'test';
  // train: how well a run fits what it was trained on (against test or val, underfitting or overfitting).
  if (split !== 'test' && split !== 'val' && split !== 'train')
    throw bad(`--split must be test, val or train, got '${split}'`);
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw bad(`--limit must be an integer ≥ 1, got '${values.limit}'`);
    }
  }
  if (values.backend !== undefined && !isBackendName(values.backend)) {
    throw bad(`unknown --backend '${values.backend}'. Expected one of: ${BACKENDS.join(', ')}`);
  }
  const data = values.data === undefined ? undefined : resolve(values.data);
  if (data !== undefined && !(await exists(join(data, 'index.json'))))
    throw bad(`--data ${values.data} is not a prepared cache (no index.json there)`);
  const runs = positionals.map((p) => resolve(p));
  for (const [i, dir] of runs.entries()) {
    if (!(await exists(dir))) throw bad(`run folder ${positionals[i]} does not exist`);
    const evaluated = compare && (await exists(join(dir, EVAL_DIR, RESULTS_JSON)));
    const file = weightsFile(weights);
    if (!evaluated && !(await exists(join(dir, file)))) {
      throw bad(
        `${positionals[i]} has no ${file} (not a run folder${file === BEST_FILE ? ', or its training has not reached the end of an epoch' : ''})`,
      );
    }
  }
  return {
    runs,
    compare,
    out: resolve(values.out ?? 'runs/compare.md'),
    experiments: exp === undefined ? EXPERIMENTS : [exp],
    split,
    limit,
    backend: values.backend,
    data,
    weights,
  };
}

interface ExperimentOutcome {
  readonly metrics: Metrics;
  readonly spread: Spread;
  readonly activation: ActivationStats;
  readonly repolarisation: RepolarisationStats;
  readonly atTrue: Int32Array;
  readonly atPred: Int32Array;
  readonly rtTrue: Int32Array;
  readonly rtPred: Int32Array;
  /** The first PLOT_SAMPLES samples in mV: [n, 75, 500]. */
  readonly examples: { readonly truth: Signal; readonly prediction: Signal };
}

function firstSamples(s: Signal, n: number): Signal {
  const [, c, t] = s.shape;
  return { data: s.data.slice(0, n * c * t), shape: [n, c, t] };
}

/** The trainer's model as an evaluate() predictor: normalised ECG [B, 12, 500] → normalised TMP [B, 75, 500]. */
function modelPredictor(model: Model): Predictor {
  const steps = model.inputSteps === 'all' ? N_STEPS : model.inputSteps;
  return async (ecg) => {
    const n = ecg.shape[0];
    const x = toChannelsLast(ecg, steps);
    const y = tf.tidy(() => model.predict(tf.tensor3d(x, [n, steps, N_LEADS])));
    const out = (await y.data()) as Float32Array;
    y.dispose();
    return toChannelsFirst(out, [n, N_STEPS, N_SITES]);
  };
}

/**
 * Evaluates `count` samples of a split under each experiment with the trainer's evaluate() (which also
 * decodes a model that reads only the first 10 ms once for both), and adds what the run's report needs
 * beside the pooled metrics: activation and repolarisation times, and the first samples to plot.
 */
async function runExperiments(
  model: Model,
  architecture: Architecture,
  split: CacheSplit,
  count: number,
  experiments: readonly Experiment[],
  batchSize: number,
  progress: (done: number) => void,
): Promise<[Experiment, ExperimentOutcome][]> {
  const sites = () => new Int32Array(count * N_SITES);
  const collected = new Map(
    experiments.map((exp) => [
      exp,
      {
        atTrue: sites(),
        atPred: sites(),
        rtTrue: sites(),
        rtPred: sites(),
        examples: undefined as ExperimentOutcome['examples'] | undefined,
      },
    ]),
  );
  // A batch's truth is the same in every experiment, and so is a prediction that serves both.
  const timed = (mv: Signal) => ({ mv, at: activationTimes(mv), rt: repolarisationTimes(mv) });
  let truth: (ReturnType<typeof timed> & { from: number }) | undefined;
  let predicted: (ReturnType<typeof timed> & { prediction: Signal }) | undefined;
  const result = await evaluate(modelPredictor(model), split, {
    normalisation: NORMALISATION,
    experiments,
    architecture,
    batchSize,
    limit: count,
    observe: (exp, from, vm, prediction) => {
      const t = truth?.from === from ? truth : { from, ...timed(vm) };
      const p =
        predicted?.prediction === prediction
          ? predicted
          : { prediction, ...timed(denormaliseVm(prediction, NORMALISATION.tmp)) };
      truth = t;
      predicted = p;
      const c = collected.get(exp)!;
      c.atTrue.set(t.at, from * N_SITES);
      c.atPred.set(p.at, from * N_SITES);
      c.rtTrue.set(t.rt, from * N_SITES);
      c.rtPred.set(p.rt, from * N_SITES);
      if (c.examples === undefined) {
        const n = Math.min(PLOT_SAMPLES, vm.shape[0]);
        c.examples = { truth: firstSamples(vm, n), prediction: firstSamples(p.mv, n) };
      }
      progress(from + vm.shape[0]);
    },
  });
  return experiments.map((exp) => {
    const { spread, ...metrics } = result[exp]!;
    const { atTrue, atPred, rtTrue, rtPred, examples } = collected.get(exp)!;
    return [
      exp,
      {
        metrics,
        spread,
        activation: activationStats(atTrue, atPred),
        repolarisation: repolarisationStats(atTrue, atPred, rtTrue, rtPred),
        atTrue,
        atPred,
        rtTrue,
        rtPred,
        examples: examples!,
      },
    ];
  });
}

function tmpFigure(title: string, examples: ExperimentOutcome['examples'], ids: readonly string[]): string {
  const time = Float32Array.from({ length: N_STEPS }, (_, t) => t);
  const trace = (s: Signal, b: number, site: number) =>
    s.data.subarray((b * N_SITES + site) * N_STEPS, (b * N_SITES + site + 1) * N_STEPS);
  const panels: Panel[] = [];
  for (let b = 0; b < examples.truth.shape[0]; b++) {
    for (const site of PLOT_SITES) {
      panels.push({
        title: `${ids[b]} · site ${site}`,
        xLabel: 'time (ms)',
        yLabel: 'Vm (mV)',
        series: [
          { label: 'true', x: time, y: trace(examples.truth, b, site), style: 'line' },
          { label: 'predicted', x: time, y: trace(examples.prediction, b, site), style: 'dashed' },
        ],
      });
    }
  }
  return figureSvg({ title, panels, columns: PLOT_SITES.length });
}

/** What one predicted-vs-true scatter of per-site times shows; `missing` marks a site without a time. */
interface TimesPlot {
  readonly times: (o: ExperimentOutcome) => { readonly truth: Int32Array; readonly pred: Int32Array };
  readonly missing: number;
  readonly what: string;
  /** The panel's title after the experiment's name; `sampled` says when not every point is drawn. */
  readonly summary: (o: ExperimentOutcome, sampled: string) => string;
}

const ACTIVATION_PLOT: TimesPlot = {
  times: (o) => ({ truth: o.atTrue, pred: o.atPred }),
  missing: NOT_ACTIVATED,
  what: 'activation time',
  summary: ({ activation: a }, sampled) =>
    `${a.pairs} sites${sampled}, MAE ${msText(a.maeMs)} (bias ${msText(a.biasMs)}); never active: ${a.notActivated.true} true / ${a.notActivated.predicted} predicted`,
};

const REPOLARISATION_PLOT: TimesPlot = {
  times: (o) => ({ truth: o.rtTrue, pred: o.rtPred }),
  missing: NOT_REPOLARISED,
  what: 'repolarisation time',
  summary: ({ repolarisation: r }, sampled) =>
    `${r.pairs} sites${sampled}, MAE ${msText(r.maeMs)} (APD ${msText(r.apdMaeMs)}); not repolarised: ${r.notRepolarised.true} true / ${r.notRepolarised.predicted} predicted`,
};

function msText(ms: number | null): string {
  return ms === null ? '—' : `${ms.toFixed(1)} ms`;
}

function timesFigure(title: string, outcomes: [Experiment, ExperimentOutcome][], plot: TimesPlot): string {
  const panels = outcomes.map(([exp, o]): Panel => {
    const { truth, pred } = plot.times(o);
    let pairs = 0;
    for (let i = 0; i < truth.length; i++) if (truth[i] !== plot.missing && pred[i] !== plot.missing) pairs++;
    const x: number[] = [];
    const y: number[] = [];
    const stride = Math.max(1, Math.ceil(pairs / MAX_SCATTER_POINTS));
    let k = 0;
    for (let i = 0; i < truth.length; i++) {
      if (truth[i] === plot.missing || pred[i] === plot.missing) continue;
      if (k++ % stride === 0) {
        x.push(truth[i]!);
        y.push(pred[i]!);
      }
    }
    const lo = Math.min(0, ...x, ...y);
    const hi = Math.max(1, ...x, ...y);
    const sampled = stride > 1 ? `, every ${stride}th drawn` : '';
    return {
      title: `${EXP_NAMES[exp]}: ${plot.summary(o, sampled)}`,
      xLabel: `true ${plot.what} (ms)`,
      yLabel: `predicted ${plot.what} (ms)`,
      sameScale: true,
      series: [
        { label: 'identity', x: [lo, hi], y: [lo, hi], style: 'line', color: '#999' },
        { label: 'sites', x, y, style: 'points' },
      ],
    };
  });
  // A square plot area, so the identity line runs at 45°.
  return figureSvg({ title, panels, panelWidth: 440, panelHeight: 438 });
}

function metricsJson(m: Metrics): Record<keyof Metrics, number | null> {
  const out = {} as Record<keyof Metrics, number | null>;
  for (const [k, v] of Object.entries(m) as [keyof Metrics, number][]) out[k] = Number.isFinite(v) ? v : null;
  return out;
}

function spreadText(d: Spread): string {
  return `${fmt(d.ratio)} (predicted ${fmt(d.predicted)}, true ${fmt(d.truth)})`;
}

function fmt(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : v.toFixed(4);
}

function runSummary(r: EvalResults): string {
  const e = r.evaluation;
  return (
    `${MODEL_NAMES[r.model]} (${r.model}), ${r.run.weights} at step ${r.run.step} ` +
    `(${r.run.epochsDone}/${r.run.epochs} epochs); ${e.split} split, ${e.samples} samples, ${e.backend} (${e.device})`
  );
}

/** The single-run table: rows = metrics, columns = the experiments evaluated, then the paper's. */
export function resultsTable(r: EvalResults): string {
  const exps = EXPERIMENTS.filter((e) => r.metrics[e] !== undefined);
  const head = ['Metric', ...exps.map((e) => EXP_NAMES[e]), ...exps.map((e) => `Paper ${EXP_NAMES[e]}`)];
  const rows = METRIC_NAMES.map((k) => [
    METRIC_LABELS[k],
    ...exps.map((e) => fmt(r.metrics[e]![k])),
    ...exps.map((e) => fmt(r.paper[e][k])),
  ]);
  return markdownTable(head, rows);
}

function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function resultsMarkdown(r: EvalResults): string {
  const exps = EXPERIMENTS.filter((e) => r.metrics[e] !== undefined);
  const activation = exps.map((e) => {
    const a = r.activation[e]!;
    return `- ${EXP_NAMES[e]}: MAE ${msText(a.maeMs)} (mean predicted − true ${msText(a.biasMs)}) over ${a.pairs} (sample, site) pairs; never above 0 mV: ${a.notActivated.true} true, ${a.notActivated.predicted} predicted`;
  });
  const repolarisation = exps.map((e) => {
    const p = r.repolarisation[e]!;
    return `- ${EXP_NAMES[e]}: MAE ${msText(p.maeMs)}, APD (repolarisation − activation) MAE ${msText(p.apdMaeMs)}, over ${p.pairs} (sample, site) pairs; never activated or not back below −60 mV by ${N_STEPS} ms: ${p.notRepolarised.true} true, ${p.notRepolarised.predicted} predicted`;
  });
  const spread = exps.flatMap((e) => {
    const d = r.spread?.[e];
    return d === undefined ? [] : [`- ${EXP_NAMES[e]}: ${spreadText(d)}`];
  });
  const transformerNote =
    r.model === 'transformer' ? ' The Transformer reads only the first 10 ms in both experiments.' : '';
  return [
    `# Evaluation of ${r.run.dir}`,
    '',
    `${runSummary(r)}.`,
    `Metrics pooled over all ${r.evaluation.samples} × ${N_SITES} × ${N_STEPS} TMP values on the normalised ` +
      `(${r.evaluation.normalisation.tmp}) scale; Exp I = full ECG, Exp II = first 10 ms then zeros.${transformerNote} ` +
      `Paper: the authors' test set of the LLNL data.`,
    '',
    resultsTable(r),
    '',
    'Activation times (first time Vm > 0 mV):',
    '',
    ...activation,
    '',
    'Repolarisation times (the last time Vm falls below −60 mV after activation, ≈ APD80):',
    '',
    ...repolarisation,
    '',
    ...(spread.length === 0
      ? []
      : [
          "Spread (how much the reconstruction varies from ECG to ECG: each value's standard deviation across the samples, averaged over the 75 × 500 values, predicted against true; 0 = one output for every ECG):",
          '',
          ...spread,
          '',
        ]),
    ...exps.map((e) => `![TMP ${EXP_NAMES[e]}](tmp-${EXP_FILES[e]}.svg)`),
    '![Activation times](activation.svg)',
    '![Repolarisation times](repolarisation.svg)',
    '',
  ].join('\n');
}

/**
 * Evaluates one run and writes runs/<id>/eval/ (results and plots).
 * @example
 * const results = await evaluateRun('runs/lstm', { experiments: EXPERIMENTS, split: 'test' });
 */
export async function evaluateRun(
  runDir: string,
  options: Pick<EvaluateArgs, 'experiments' | 'split' | 'weights'> & {
    limit?: number | undefined;
    backend?: BackendName | undefined;
    data?: string | undefined;
  },
  log: (line: string) => void = () => undefined,
): Promise<EvalResults> {
  const t0 = performance.now();
  // The run's own backend unless overridden; it must run before the model's variables are created.
  const file = weightsFile(options.weights);
  const stored = await readCheckpoint<RunState>(join(runDir, file));
  const backend = await startBackend(options.backend ?? stored.state.config.backend);
  const { model, state } = await loadRunModel(runDir, options.weights ?? 'best');
  try {
    const dataset = await runDataset(state);
    const evaluatedOn = options.data ?? dataset;
    const index = await readCacheIndex(evaluatedOn);
    const split = await loadCacheSplit(evaluatedOn, index, options.split);
    const count = Math.min(split.count, options.limit ?? split.count);
    if (count < 1) throw new InputError('bad_dataset', `${evaluatedOn}: the ${options.split} split is empty`);
    log(
      `${runDir}: ${state.config.model} from ${file} (step ${state.step}); ${options.split} split, ` +
        `${count} samples${options.data === undefined ? '' : ` of ${options.data}`}, on ${backend.name} (${backend.device})`,
    );
    const started = performance.now();
    let lastLine = started;
    const outcomes = await runExperiments(
      model,
      state.config.model,
      split,
      count,
      options.experiments,
      state.config.batch,
      (done) => {
        if (performance.now() - lastLine > 10_000) {
          log(`${done}/${count} samples`);
          lastLine = performance.now();
        }
      },
    );
    log(
      `${options.experiments.map((e) => EXP_NAMES[e]).join(' and ')} done in ${((performance.now() - started) / 1000).toFixed(1)} s` +
        (model.inputSteps === 'all' || options.experiments.length < 2
          ? ''
          : ' (one decode: the same input, the first 10 ms, in both)'),
    );
    const results: EvalResults = {
      model: state.config.model,
      run: {
        dir: runDir,
        weights: file,
        step: state.step,
        epochsDone: state.epoch,
        epochs: state.config.epochs,
        bestEpoch: state.bestEpoch,
        trainMs: Math.round(state.trainMs),
        seed: state.config.seed,
        trainedOn: { backend: state.backend, device: state.device },
        dataset,
      },
      evaluation: {
        split: options.split,
        dataset: evaluatedOn,
        samples: count,
        backend: backend.name,
        device: backend.device,
        normalisation: NORMALISATION,
        input: Object.fromEntries(
          outcomes.map(([e]) => [e, model.inputSteps === 'all' ? e : 'limited']),
        ) as EvalResults['evaluation']['input'],
        ms: Math.round(performance.now() - t0),
        date: new Date().toISOString(),
      },
      metrics: Object.fromEntries(outcomes.map(([e, o]) => [e, metricsJson(o.metrics)])),
      activation: Object.fromEntries(outcomes.map(([e, o]) => [e, o.activation])),
      repolarisation: Object.fromEntries(outcomes.map(([e, o]) => [e, o.repolarisation])),
      spread: Object.fromEntries(outcomes.map(([e, o]) => [e, o.spread])),
      paper: PAPER[state.config.model],
    };
    const dir = join(runDir, EVAL_DIR);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, RESULTS_JSON), `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(join(dir, RESULTS_MD), resultsMarkdown(results));
    const name = `${MODEL_NAMES[results.model]} (${basename(runDir)})`;
    // A plot left from an earlier evaluation of another experiment would not match results.json.
    for (const exp of EXPERIMENTS) await rm(join(dir, `tmp-${EXP_FILES[exp]}.svg`), { force: true });
    for (const [exp, o] of outcomes) {
      const title = `${name}, ${EXP_NAMES[exp]}: TMP true vs predicted (mV)`;
      await writeFile(join(dir, `tmp-${EXP_FILES[exp]}.svg`), tmpFigure(title, o.examples, split.ids));
    }
    await writeFile(
      join(dir, 'activation.svg'),
      timesFigure(`${name}: activation times, predicted vs true (ms)`, outcomes, ACTIVATION_PLOT),
    );
    await writeFile(
      join(dir, 'repolarisation.svg'),
      timesFigure(`${name}: repolarisation times, predicted vs true (ms)`, outcomes, REPOLARISATION_PLOT),
    );
    return results;
  } finally {
    model.dispose();
  }
}

function parseResults(path: string, text: string): EvalResults {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError('bad_value', `${path} is not valid JSON; delete it to evaluate the run again`, {
      cause: err,
    });
  }
  const r = json as Partial<EvalResults> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    !(r.model && r.model in PAPER) ||
    typeof r.metrics !== 'object'
  ) {
    throw new InputError(
      'bad_value',
      `${path} is not an evaluation result; delete it to evaluate the run again`,
    );
  }
  return r as EvalResults;
}

/** The compare tables, one per experiment: a column per run, each beside the paper's column for its model. */
export function compareMarkdown(
  entries: readonly { dir: string; results: EvalResults }[],
  outDir: string,
): string {
  const sections = EXPERIMENTS.filter((e) => entries.some(({ results }) => results.metrics[e])).map((exp) => {
    const head = [
      EXP_NAMES[exp],
      ...entries.flatMap(({ dir, results }) => [`${MODEL_NAMES[results.model]} (${basename(dir)})`, 'paper']),
    ];
    const rows = METRIC_NAMES.map((k) => [
      METRIC_LABELS[k],
      ...entries.flatMap(({ results }) => [
        fmt(results.metrics[exp]?.[k]),
        fmt(PAPER[results.model][exp][k]),
      ]),
    ]);
    return markdownTable(head, rows);
  });
  const runs = entries.map(({ dir, results }) => `- ${relative(outDir, dir) || '.'}: ${runSummary(results)}`);
  return [
    '# Our runs next to the paper',
    '',
    'Normalised TMP (vm-affine), metrics pooled over every value of the split. Exp I = full ECG, Exp II = ' +
      'first 10 ms then zeros; the Transformer reads the first 10 ms in both. Paper: its test set of the ' +
      'LLNL data.',
    '',
    ...sections.flatMap((s) => [s, '']),
    'Runs:',
    '',
    ...runs,
    '',
  ].join('\n');
}

async function compareRuns(args: EvaluateArgs, log: (line: string) => void): Promise<string> {
  const entries: { dir: string; results: EvalResults }[] = [];
  // One tfjs backend per process: runs evaluated here all use the first one started.
  let backend = args.backend;
  for (const dir of args.runs) {
    const path = join(dir, EVAL_DIR, RESULTS_JSON);
    const text = await readFile(path, 'utf8').catch(() => undefined);
    let results: EvalResults;
    if (text === undefined) {
      log(`${dir}: no ${EVAL_DIR}/${RESULTS_JSON}, evaluating it first`);
      results = await evaluateRun(dir, { ...args, backend }, log);
      backend = results.evaluation.backend;
    } else {
      results = parseResults(path, text);
    }
    entries.push({ dir, results });
  }
  const md = compareMarkdown(entries, dirname(args.out));
  const jsonPath = args.out.endsWith('.md') ? `${args.out.slice(0, -3)}.json` : `${args.out}.json`;
  await mkdir(dirname(args.out), { recursive: true });
  await writeFile(args.out, md);
  const paper = Object.fromEntries(entries.map(({ results }) => [results.model, PAPER[results.model]]));
  await writeFile(jsonPath, `${JSON.stringify({ runs: entries, paper }, null, 2)}\n`);
  log(`wrote ${args.out} and ${jsonPath}`);
  return md;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const err = process.stderr;
  const log = (line: string) => err.write(`evaluate: ${line}\n`);
  let args: EvaluateArgs;
  try {
    args = await parseEvaluateArgs(argv);
  } catch (e) {
    // parseArgs reports unknown flags and missing values as TypeErrors with an ERR_PARSE_ARGS_* code.
    if (!(e instanceof InputError) && !(e as NodeJS.ErrnoException).code) throw e;
    err.write(`evaluate: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    if (args.compare) {
      process.stdout.write(await compareRuns(args, log));
    } else {
      const results = await evaluateRun(args.runs[0]!, args, log);
      const spreads = EXPERIMENTS.flatMap((e) => {
        const d = results.spread?.[e];
        return d === undefined ? [] : [`${EXP_NAMES[e]} ${spreadText(d)}`];
      });
      process.stdout.write(
        `${runSummary(results)}\n\n${resultsTable(results)}\n\nspread across ECGs: ${spreads.join('; ')}\n`,
      );
      log(`wrote ${join(args.runs[0]!, EVAL_DIR)}/{${RESULTS_MD}, ${RESULTS_JSON}, *.svg}`);
    }
    return 0;
  } catch (e) {
    if (e instanceof InputError || e instanceof BackendError) {
      err.write(`evaluate: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
