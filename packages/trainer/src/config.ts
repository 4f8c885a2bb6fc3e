/**
 * @module
 * One flat training configuration: every knob with its default and why, presets as small JSON files in
 * packages/trainer/presets/ (the paper's reference settings per model), command-line flags on top.
 * A run stores its resolved config in its checkpoint, so `--resume` needs nothing else.
 */

import { ARCHITECTURES, type Architecture, InputError } from '@ecg-tmp/core';
import { AP_MODES, type ApMode } from '@ecg-tmp/simulator';
import cnnLstmPreset from '../presets/cnn-lstm.json' with { type: 'json' };
import squeezenetPreset from '../presets/squeezenet1d.json' with { type: 'json' };
import transformerPreset from '../presets/transformer.json' with { type: 'json' };
import { BACKENDS, type BackendName } from './backend.ts';
import { CNN_LSTM_CHANNELS, LSTM_HIDDEN } from './models/cnn-lstm.ts';
import { ENCODER_INPUTS, type EncoderInput, OUTPUT_HEADS, type OutputHead } from './models/transformer.ts';

export const LOSSES = ['mse', 'huber'] as const;
export type LossName = (typeof LOSSES)[number];
/** How the Transformer's output LayerNorm starts: γ = 1, β = 0, or fitted to the training tokens. */
export const OUTPUT_INITS = ['default', 'fit'] as const;
export type OutputInit = (typeof OUTPUT_INITS)[number];
/**
 * What the Transformer's decoder reads in training besides the true tokens (scheduled sampling against
 * exposure bias): nothing; its own teacher-forced predictions of a first pass ('parallel'); or its own
 * free-running reconstruction ('free-running'), each a constant the gradient does not pass through. Or
 * 'unrolled': with the sampling probability, a step's loss is that of the free-running decode itself,
 * the gradient passing back through all 50 decoding steps (otherwise the step is teacher-forced).
 */
export const SAMPLINGS = ['none', 'parallel', 'free-running', 'unrolled'] as const;
export type Sampling = (typeof SAMPLINGS)[number];
/** Which validation figure picks best.bin and drives early stopping. */
export const SELECTIONS = ['val-loss', 'free-running-r2'] as const;
export type Selection = (typeof SELECTIONS)[number];

export interface TrainConfig {
  /** squeezenet1d | cnn-lstm | transformer */
  readonly model: Architecture;
  /** A training cache (prepare-data output), an unpacked data set, or 'synthetic'. */
  readonly data: string;
  /** Pairs simulated when data = 'synthetic' (simulator seed 1, cached under data/). */
  readonly syntheticCount: number;
  /**
   * The action potentials of data = 'synthetic': 'drawn' per heart (the default, realistic data) or
   * 'fixed' (the fixed-AP variant, the paper's one-cell-model setting; packages/simulator --ap fixed).
   */
  readonly syntheticAp: ApMode;
  /** Run folder: checkpoint.bin, best.bin, log.jsonl. */
  readonly out: string;
  readonly backend: BackendName;
  /** Seeds the initial weights, the per-epoch sample order and every dropout mask. */
  readonly seed: number;
  readonly epochs: number;
  readonly batch: number;
  readonly loss: LossName;
  /** Huber's δ on the normalised scale (PyTorch's default 1). */
  readonly huberDelta: number;
  /**
   * λ of the crossing term added to the loss (train.ts crossingLoss; a deviation from the paper's plain
   * loss, no parameters, the architecture and the export unchanged): a smooth hinge at the activation
   * (0 mV) and repolarisation (−60 mV) levels that costs λ per unit of the normalised scale a prediction
   * lies on the wrong side of a level the truth has crossed (or not). Under squared error alone a model
   * unsure when a site's 1 ms upstroke comes draws a ramp that reaches 0 mV only once the upstroke is
   * ~78% likely to have happened — late. Measured, it helps little: with the 2 mV smoothing a value
   * the truth is likelier above 0 mV than not is pulled up to just below the level (a shelf), not across
   * it (train.test.ts; docs/results.md §9). 0 = off (the paper's). Runs from before it: 0.
   */
  readonly crossingWeight?: number;
  /** Adam's learning rate, β₁, β₂, ε (PyTorch defaults). */
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** MultiStep schedule: at each of these epochs the rate is multiplied by lrGamma. */
  readonly lrMilestones: readonly number[];
  readonly lrGamma: number;
  /** Linear warm-up: the rate rises from lr/warmupSteps to lr over the first warmupSteps steps (0 = off). */
  readonly warmupSteps: number;
  /** Gradients are rescaled so their global L2 norm is at most this (0 = off); guards early spikes. */
  readonly gradClip: number;
  /** Also validate every this many steps within an epoch (0 = at epoch ends only); for large sets. */
  readonly evalEvery: number;
  /** Early stopping: stop after this many validations without a better selected figure (0 = never). */
  readonly patience: number;
  /** Train on at most this many training samples (0 = all); for quick runs and tests. */
  readonly trainLimit: number;
  /** Validate on at most this many validation samples (0 = all). */
  readonly valLimit: number;
  /** Stop after this many optimiser steps in total (0 = no limit); for tests and benchmarks. */
  readonly maxSteps: number;
  /**
   * Transformer only: 'fit' starts the last decoder layer's output LayerNorm at the γ, β that best explain
   * the training split's Vm tokens (models/output-norm.ts); 'default' at γ = 1, β = 0 (the paper's).
   */
  readonly outputInit: OutputInit;
  /**
   * Start from the weights of another run's checkpoint (a best.bin or checkpoint.bin of the same
   * architecture and options) instead of the seed's initialisation: a fine-tune with a fresh optimiser,
   * step 0 and this run's own data and schedule. '' = no (the default). The output-LayerNorm fit is then
   * skipped: the weights already have their output scale.
   */
  readonly initFrom: string;
  /**
   * Transformer only: 'norm' (the paper's: the last decoder LayerNorm's output is the prediction) or
   * 'projection' (a measured deviation: a 75 → 75 layer after it, starting as the identity, +5,700
   * parameters).
   */
  readonly outputHead: OutputHead;
  /**
   * Transformer only: 'prediction' (the paper's scheme: the input layer's output is TMP segment 0 and the
   * encoder's input) or 'embedding' (a deviation with the same parameters: the input layer's output is a
   * free embedding, the encoder's input and the decoder's start tokens; models/transformer.ts). Absent in
   * runs made before it: 'prediction'.
   */
  readonly encoderInput?: EncoderInput;
  /**
   * CNN-LSTM only: the output at time t is written after reading the ECG up to t + lookahead ms (the ECG
   * padded with zeros at its end, the first outputs dropped; same parameters). 0 = the paper's.
   */
  readonly lookahead: number;
  /**
   * CNN-LSTM only, a flagged deviation: a bidirectional LSTM of 32 hidden units each way (205,643
   * parameters against the paper's 213,835), so the output at t has read the whole ECG. false = the
   * paper's forward LSTM of 64.
   */
  readonly bidirectional: boolean;
  /**
   * CNN-LSTM only, a flagged deviation when not the paper's [64, 128, 256]: the three convolutions'
   * output channels. A narrower last convolution (e.g. 64,128,128: 131,659 parameters) is the edge's
   * cheaper variant — fewer multiply-adds in the widest convolution and in the LSTM's input projection.
   * Runs from before it: the paper's.
   */
  readonly convChannels?: readonly number[];
  /**
   * CNN-LSTM only, a flagged deviation when not the paper's 64: the LSTM's hidden units (with
   * --bidirectional, both directions together). Each unit is a state the LSTM can set when a site's
   * upstroke passes; 128 gives it twice as many (333,835 parameters). Runs from before it: 64.
   */
  readonly lstmHidden?: number;
  /**
   * Transformer only, a training regulariser (no parameters; the architecture and the export unchanged):
   * λ of the memory-variance term, which keeps the encoder memory from being the same for every ECG
   * (models/transformer.ts memoryVarianceLoss). 0 = off, the paper's training. Runs from before it: 0.
   */
  readonly memoryVariance?: number;
  /**
   * Transformer only: each epoch, also decode this many validation samples free-running from their first
   * 10 ECG steps (the inference protocol) and log the pooled R² (0 = off).
   */
  readonly freeRunLimit: number;
  /** What best.bin and early stopping follow: the validation loss, or the free-running R² (needs freeRunLimit). */
  readonly selectBy: Selection;
  /**
   * Transformer only: scheduled sampling. Each 10-token segment of the decoder's input is, with
   * probability samplingRate (ramped up linearly over the first samplingRampSteps steps), the model's own
   * prediction of it instead of the truth; the loss is still against the truth.
   */
  readonly sampling: Sampling;
  readonly samplingRate: number;
  readonly samplingRampSteps: number;
  /** A mid-epoch checkpoint.bin at least this often (minutes; 0 = only at epoch ends and on a stop). */
  readonly checkpointMinutes: number;
}

/**
 * The settings a resumed run may change (`--resume` with these flags): the schedule and the bookkeeping,
 * for a second phase such as a lower learning rate once validation flattens, or a fine-tune under another
 * loss or to a CNN-LSTM lookahead (either restarts the best validation loss and the patience count).
 * What defines the run — the architecture, data, batch, seed, backend and start — stays as the
 * checkpoint has it.
 */
export const RESUME_SETTINGS = [
  'epochs',
  'memoryVariance',
  'loss',
  'huberDelta',
  'crossingWeight',
  'lookahead',
  'lr',
  'lrMilestones',
  'lrGamma',
  'warmupSteps',
  'gradClip',
  'evalEvery',
  'patience',
  'valLimit',
  'maxSteps',
  'freeRunLimit',
  'sampling',
  'samplingRate',
  'samplingRampSteps',
  'checkpointMinutes',
  // Moving a run to another machine (the CPU run on to the lent GPU): not bit-for-bit across backends.
  'backend',
] as const satisfies readonly (keyof TrainConfig)[];

export const DEFAULTS: Omit<TrainConfig, 'model' | 'out'> = {
  data: 'synthetic',
  syntheticCount: 2000,
  syntheticAp: 'drawn',
  backend: 'wasm',
  seed: 1,
  epochs: 40,
  batch: 32,
  loss: 'mse',
  huberDelta: 1,
  crossingWeight: 0,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  lrMilestones: [],
  lrGamma: 0.1,
  warmupSteps: 0,
  gradClip: 1,
  evalEvery: 0,
  patience: 10,
  trainLimit: 0,
  valLimit: 0,
  maxSteps: 0,
  outputInit: 'default',
  initFrom: '',
  outputHead: 'norm',
  encoderInput: 'prediction',
  lookahead: 0,
  bidirectional: false,
  convChannels: CNN_LSTM_CHANNELS,
  lstmHidden: LSTM_HIDDEN,
  memoryVariance: 0,
  freeRunLimit: 0,
  selectBy: 'val-loss',
  sampling: 'none',
  samplingRate: 0.5,
  samplingRampSteps: 0,
  checkpointMinutes: 10,
};

// Imported rather than read beside this module: a bundle (../shared/gpu/pack.sh) carries them along.
const PRESETS = {
  squeezenet1d: squeezenetPreset,
  'cnn-lstm': cnnLstmPreset,
  transformer: transformerPreset,
} as Record<Architecture, Partial<TrainConfig>>;

/** The paper's reference settings for one architecture (a copy: callers may change it). */
export function preset(model: Architecture): Partial<TrainConfig> {
  const settings = PRESETS[model];
  if (settings === undefined)
    throw bad(`unknown --model '${model}'. Expected one of: ${ARCHITECTURES.join(', ')}`);
  return structuredClone(settings);
}

function bad(message: string): InputError {
  return new InputError('bad_value', message);
}

/** Checks every field; the messages name the flag a user would fix. */
export function validateConfig(c: TrainConfig): TrainConfig {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isSafeInteger(v) || v < min) throw bad(`--${name} must be an integer ≥ ${min}, got ${v}`);
  };
  const pos = (name: string, v: number) => {
    if (!Number.isFinite(v) || v <= 0) throw bad(`--${name} must be a positive number, got ${v}`);
  };
  if (!ARCHITECTURES.includes(c.model)) {
    throw bad(`unknown --model '${c.model}'. Expected one of: ${ARCHITECTURES.join(', ')}`);
  }
  if (!BACKENDS.includes(c.backend)) {
    throw bad(`unknown --backend '${c.backend}'. Expected one of: ${BACKENDS.join(', ')}`);
  }
  if (!LOSSES.includes(c.loss))
    throw bad(`unknown --loss '${c.loss}'. Expected one of: ${LOSSES.join(', ')}`);
  int('epochs', c.epochs, 1);
  int('batch', c.batch, 1);
  int('seed', c.seed, 0);
  int('synthetic-count', c.syntheticCount, 20);
  if (!(AP_MODES as readonly string[]).includes(c.syntheticAp))
    throw bad(`unknown --synthetic-ap '${c.syntheticAp}'. Expected one of: ${AP_MODES.join(', ')}`);
  if (c.syntheticAp !== 'drawn' && c.data !== 'synthetic')
    throw bad(
      '--synthetic-ap applies to --data synthetic only (a data folder has its own action potentials)',
    );
  int('patience', c.patience, 0);
  int('train-limit', c.trainLimit, 0);
  int('val-limit', c.valLimit, 0);
  int('max-steps', c.maxSteps, 0);
  int('warmup-steps', c.warmupSteps, 0);
  int('eval-every', c.evalEvery, 0);
  int('free-run-limit', c.freeRunLimit, 0);
  int('lookahead', c.lookahead ?? 0, 0);
  if ((c.lookahead ?? 0) > 100) throw bad(`--lookahead must be ≤ 100 ms, got ${c.lookahead}`);
  if ((c.lookahead ?? 0) > 0 && c.model !== 'cnn-lstm') throw bad('--lookahead applies to the cnn-lstm only');
  if (typeof (c.bidirectional ?? false) !== 'boolean') throw bad('--bidirectional takes no value');
  if ((c.bidirectional ?? false) && c.model !== 'cnn-lstm')
    throw bad('--bidirectional applies to the cnn-lstm only');
  if (!((c.memoryVariance ?? 0) >= 0)) throw bad(`--memory-variance must be ≥ 0, got ${c.memoryVariance}`);
  if ((c.memoryVariance ?? 0) > 0 && c.model !== 'transformer')
    throw bad('--memory-variance applies to the transformer only');
  const channels = c.convChannels ?? CNN_LSTM_CHANNELS;
  if (
    !Array.isArray(channels) ||
    channels.length !== CNN_LSTM_CHANNELS.length ||
    !channels.every((n) => Number.isInteger(n) && n >= 1 && n <= 1024)
  )
    throw bad(
      `--conv-channels must be three integers from 1 to 1024, e.g. 64,128,128; got ${String(channels)}`,
    );
  if (channels.some((n, i) => n !== CNN_LSTM_CHANNELS[i]) && c.model !== 'cnn-lstm')
    throw bad('--conv-channels applies to the cnn-lstm only');
  const hidden = c.lstmHidden ?? LSTM_HIDDEN;
  if (
    !Number.isInteger(hidden) ||
    hidden < 2 ||
    hidden > 1024 ||
    ((c.bidirectional ?? false) && hidden % 2 !== 0)
  )
    throw bad(
      `--lstm-hidden must be an integer from 2 to 1024 (even when bidirectional), got ${c.lstmHidden}`,
    );
  if (hidden !== LSTM_HIDDEN && c.model !== 'cnn-lstm')
    throw bad('--lstm-hidden applies to the cnn-lstm only');
  if (!(c.checkpointMinutes >= 0)) throw bad(`--checkpoint-minutes must be ≥ 0, got ${c.checkpointMinutes}`);
  if (!OUTPUT_INITS.includes(c.outputInit))
    throw bad(`unknown --output-init '${c.outputInit}'. Expected one of: ${OUTPUT_INITS.join(', ')}`);
  if (!ENCODER_INPUTS.includes(c.encoderInput ?? 'prediction'))
    throw bad(`unknown --encoder-input '${c.encoderInput}'. Expected one of: ${ENCODER_INPUTS.join(', ')}`);
  if (!OUTPUT_HEADS.includes(c.outputHead))
    throw bad(`unknown --output-head '${c.outputHead}'. Expected one of: ${OUTPUT_HEADS.join(', ')}`);
  if (!SAMPLINGS.includes(c.sampling))
    throw bad(`unknown --sampling '${c.sampling}'. Expected one of: ${SAMPLINGS.join(', ')}`);
  if (!(c.samplingRate >= 0 && c.samplingRate <= 1))
    throw bad(`--sampling-rate must be in [0, 1], got ${c.samplingRate}`);
  int('sampling-ramp-steps', c.samplingRampSteps, 0);
  if (!SELECTIONS.includes(c.selectBy))
    throw bad(`unknown --select-by '${c.selectBy}'. Expected one of: ${SELECTIONS.join(', ')}`);
  if (c.model !== 'transformer') {
    if (c.outputInit !== 'default') throw bad('--output-init fit applies to the transformer only');
    if (c.freeRunLimit > 0) throw bad('--free-run-limit applies to the transformer only');
    if (c.outputHead !== 'norm') throw bad('--output-head applies to the transformer only');
    if ((c.encoderInput ?? 'prediction') !== 'prediction')
      throw bad('--encoder-input applies to the transformer only');
    if (c.sampling !== 'none') throw bad('--sampling applies to the transformer only');
  }
  if (c.selectBy === 'free-running-r2' && c.freeRunLimit < 1)
    throw bad('--select-by free-running-r2 needs --free-run-limit ≥ 1');
  pos('lr', c.lr);
  pos('huber-delta', c.huberDelta);
  if (!(Number.isFinite(c.crossingWeight ?? 0) && (c.crossingWeight ?? 0) >= 0))
    throw bad(`--crossing-weight must be a number ≥ 0, got ${c.crossingWeight}`);
  pos('eps', c.eps);
  if (!(c.gradClip >= 0)) throw bad(`--grad-clip must be ≥ 0, got ${c.gradClip}`);
  for (const [name, v] of [
    ['beta1', c.beta1],
    ['beta2', c.beta2],
    ['lr-gamma', c.lrGamma],
  ] as const) {
    if (!(v > 0 && v < 1) && !(name === 'lr-gamma' && v === 1))
      throw bad(`--${name} must be in (0, 1), got ${v}`);
  }
  for (const m of c.lrMilestones) int('lr-milestones', m, 1);
  if (c.out.trim() === '') throw bad('--out must name a run folder');
  return c;
}

/** The scheduled-sampling probability at (0-based) global step `step`. */
export function samplingProbability(c: TrainConfig, step: number): number {
  if (c.sampling === 'none') return 0;
  return c.samplingRampSteps > 0
    ? c.samplingRate * Math.min(1, (step + 1) / c.samplingRampSteps)
    : c.samplingRate;
}

/**
 * The learning rate of (0-based) global step `step` in (0-based) epoch `epoch`: the MultiStep schedule,
 * times the linear warm-up while step < warmupSteps.
 */
export function learningRate(c: TrainConfig, epoch: number, step = Number.POSITIVE_INFINITY): number {
  const passed = c.lrMilestones.filter((m) => epoch >= m).length;
  const warmup = c.warmupSteps > 0 ? Math.min(1, (step + 1) / c.warmupSteps) : 1;
  return c.lr * c.lrGamma ** passed * warmup;
}
