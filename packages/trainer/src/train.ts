/**
 * @module
 * The training loop (nanoGPT-style: one function you can read top to bottom).
 *
 *   1. data     the cache's train/val splits; per epoch a seeded permutation of the training samples
 *   2. model    created from the run seed (or restored from checkpoint.bin on resume)
 *   3. step     forward → loss → gradients → global-norm clip → Adam; BatchNorm statistics updated
 *   4. epoch    validation loss (teacher-forced for the Transformer), for the Transformer optionally
 *               the free-running R² of a fixed validation subset, log.jsonl line, checkpoint.bin,
 *               best.bin whenever the selected figure improves, early stopping after `patience` flat
 *               epochs; checkpoint.bin also every `checkpointMinutes` within an epoch
 * A new Transformer run may first fit its output LayerNorm to the training split (models/output-norm.ts);
 * the fit is stored in the run state.
 * Everything random is a pure function of (seed, epoch, step), and a checkpoint holds the weights, the
 * optimiser moments, the counters and the partial epoch's loss sums, so a resumed run continues
 * bit-for-bit on the same backend. A stop request (SIGINT) is honoured between steps: checkpoint, return.
 */

import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ACTIVATION_THRESHOLD_MV,
  activationTimes,
  denormaliseVm,
  InputError,
  MetricsAccumulator,
  N_SITES,
  N_STEPS,
  normaliseVm,
  normaliseVmValue,
  REPOLARISATION_THRESHOLD_MV,
  VM_SPAN_MV,
} from '@ecg-tmp/core';
import { samplePrng } from '@ecg-tmp/simulator';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendInfo, startBackend } from './backend.ts';
import { type Batch, gatherBatch, NORMALISATION, toChannelsFirst, toChannelsLast } from './batches.ts';
import { paramsOnly, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import {
  DEFAULTS,
  learningRate,
  RESUME_SETTINGS,
  samplingProbability,
  type TrainConfig,
  validateConfig,
} from './config.ts';
import { type Cache, type CacheSplit, openCache } from './data.ts';
import { activationStats } from './evaluate.ts';
import { FusedAdam } from './kernels/adam/adam.ts';
import { CNN_LSTM_CHANNELS, LSTM_HIDDEN } from './models/cnn-lstm.ts';
import { createModel, type Model } from './models/index.ts';
import { ForwardContext } from './models/layers.ts';
import { fitOutputNorm } from './models/output-norm.ts';
import { SEGMENT } from './models/transformer.ts';
import { ROOT, syntheticCache } from './synthetic.ts';

export const CHECKPOINT_FILE = 'checkpoint.bin';
export const BEST_FILE = 'best.bin';
export const LOG_FILE = 'log.jsonl';

/** Everything besides tensors that a resumed run needs. */
export interface RunState {
  readonly config: TrainConfig;
  step: number;
  epoch: number;
  /** Steps already taken in the current epoch. */
  stepInEpoch: number;
  epochLossSum: number;
  epochSamples: number;
  /** The lowest validation loss so far. */
  bestVal: number | null;
  /** The highest free-running validation R² so far (null when not measured). */
  bestFreeRunR2?: number | null;
  /** The epoch and step best.bin holds (by config.selectBy). */
  bestEpoch: number | null;
  bestStep?: number | null;
  /** Validations (epoch ends, and every evalEvery steps) since the selected figure last improved. */
  epochsWithoutImprovement: number;
  /** Training time so far, over all sessions of the run. */
  trainMs: number;
  finished: boolean;
  stopReason: 'epochs' | 'early-stopping' | 'max-steps' | null;
  backend: string;
  device: string;
  dataset: string;
  /** The fitted start of the output LayerNorm (config.outputInit 'fit'), as it was written into the model. */
  outputInit?: OutputInitRecord | null;
  /** Where the starting weights came from (config.initFrom), so the run says what it fine-tuned. */
  initFrom?: InitFromRecord;
}

export interface OutputInitRecord {
  readonly method: 'least-squares';
  /** Training samples (spread evenly over the training split) and tokens the fit saw. */
  readonly samples: number;
  readonly tokens: number;
  /** R² of the fit on those tokens after the alternation and at the end; descent steps taken. */
  readonly r2: { readonly alternation: number; readonly final: number };
  readonly steps: number;
  readonly gamma: readonly number[];
  readonly beta: readonly number[];
}

export type TrainEvent =
  | {
      kind: 'start';
      state: RunState;
      trainCount: number;
      valCount: number;
      stepsPerEpoch: number;
      backend: BackendInfo;
    }
  | { kind: 'step'; state: RunState; loss: number; samplesPerSec: number; stepsPerEpoch: number }
  | {
      kind: 'epoch';
      state: RunState;
      /** A validation within the epoch (config.evalEvery), not at its end. */
      midEpoch: boolean;
      trainLoss: number;
      valLoss: number;
      /** The free-running scores, when config.freeRunLimit asks for them. */
      freeRun: FreeRunScores | null;
      lr: number;
      improved: boolean;
    }
  | { kind: 'stop'; state: RunState; reason: 'interrupted' | 'finished' };

export interface TrainOptions {
  readonly resume?: boolean;
  /**
   * With resume: settings to change from the checkpoint's (only RESUME_SETTINGS — the schedule, not what
   * defines the run); each change is logged. Without changes a resumed run continues bit for bit.
   */
  readonly changes?: Partial<TrainConfig>;
  readonly onEvent?: (event: TrainEvent) => void;
  /** Polled between steps; true → checkpoint and return. */
  readonly shouldStop?: () => boolean;
}

function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * The settings a resume changes, checked: only RESUME_SETTINGS may differ from the checkpoint's; a flag
 * that repeats the stored value is no change.
 */
export function resumeChanges(
  stored: TrainConfig,
  asked: Partial<TrainConfig>,
): Record<string, { from: unknown; to: unknown }> {
  const withDefaults = { ...DEFAULTS, ...stored } as unknown as Record<string, unknown>;
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  const refused: string[] = [];
  for (const [key, to] of Object.entries(asked)) {
    if (key === 'out' || to === undefined) continue;
    const from = withDefaults[key];
    if (JSON.stringify(from) === JSON.stringify(to)) continue;
    if (!(RESUME_SETTINGS as readonly string[]).includes(key)) refused.push(flagOf(key));
    else changes[key] = { from, to };
  }
  if (refused.length > 0) {
    throw new InputError(
      'bad_value',
      `--resume continues the run as it was made; ${refused.join(', ')} cannot change (a resume may change ${RESUME_SETTINGS.map(flagOf).join(', ')})`,
    );
  }
  return changes;
}

/** Resolves --data to a cache folder: a cache as is, a raw data set prepared once next to it, or synthetic. */
export async function resolveDataset(config: TrainConfig, log?: (l: string) => void): Promise<string> {
  if (config.data === 'synthetic') {
    return syntheticCache({
      count: config.syntheticCount,
      seed: 1,
      ap: config.syntheticAp,
      dataDir: join(ROOT, 'data'),
      ...(log ? { log } : {}),
    });
  }
  const isCache = await readFile(join(config.data, 'index.json')).then(
    () => true,
    () => false,
  );
  if (isCache) return config.data;
  const { prepareData } = await import('./prepare-data.ts');
  const out = `${config.data.replace(/\/+$/, '')}-cache`;
  const prepared = await readFile(join(out, 'index.json')).then(
    () => true,
    () => false,
  );
  if (!prepared) {
    log?.(`preparing the training cache ${out} from ${config.data}`);
    await prepareData({ from: config.data, out });
  }
  return out;
}

function lossOf(config: TrainConfig, prediction: tf.Tensor, target: tf.Tensor): tf.Scalar {
  const base = pointLoss(config, prediction, target);
  const weight = config.crossingWeight ?? 0;
  return weight > 0 ? tf.add(base, tf.mul(weight, crossingLoss(prediction, target))) : base;
}

function pointLoss(config: TrainConfig, prediction: tf.Tensor, target: tf.Tensor): tf.Scalar {
  const d = tf.sub(prediction, target);
  if (config.loss === 'mse') return tf.mean(tf.square(d));
  const a = tf.abs(d);
  const delta = config.huberDelta;
  const quadratic = tf.minimum(a, delta);
  // ½·q² + δ·(|d| − q): ½d² inside δ, δ(|d| − ½δ) outside.
  return tf.mean(tf.add(tf.mul(0.5, tf.square(quadratic)), tf.mul(delta, tf.sub(a, quadratic))));
}

/** The levels of the crossing term: those whose crossings evaluate times (activation, repolarisation). */
export const CROSSING_LEVELS = [ACTIVATION_THRESHOLD_MV, REPOLARISATION_THRESHOLD_MV].map((mv) =>
  normaliseVmValue(mv, NORMALISATION.tmp),
);
/** The hinge's smoothing width on the normalised scale (2 mV). */
export const CROSSING_SOFTNESS = 2 / VM_SPAN_MV;

/**
 * The crossing term (--crossing-weight), per value and level c, averaged like the squared error:
 * τ·softplus(−s·(v − c)/τ) with s = +1 where the truth is above c and −1 where it is not — for a
 * prediction v on the wrong side of c, about |v − c| (slope 1); on the right side, about 0. Summed over
 * the levels of CROSSING_LEVELS. Added to a point loss with weight λ, it asks each predicted trace to be
 * above a level exactly when the truth is more likely above than not (the per-value median's side),
 * where squared error alone draws the mean, which for an uncertain 1 ms upstroke crosses 0 mV late.
 */
export function crossingLoss(prediction: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const tau = CROSSING_SOFTNESS;
    const terms = CROSSING_LEVELS.map((c) => {
      const side = tf.sub(tf.mul(2, tf.cast(tf.greater(target, c), 'float32')), 1);
      const margin = tf.mul(side, tf.sub(prediction, c));
      return tf.mul(tau, tf.softplus(tf.div(tf.neg(margin), tau)));
    });
    return tf.mean(tf.addN(terms)) as tf.Scalar;
  });
}

/**
 * Adam with decoupled state we can checkpoint, and global-norm gradient clipping. On the CPU backends
 * (cpu, wasm) the update is one fused WebAssembly SIMD pass over all parameters (kernels/adam/), with
 * the same f32 arithmetic as the tfjs ops below, which the GPU backend keeps (a fused pass there would
 * read everything back). `fused` forces either path (tests compare them), as ECG_TMP_ADAM=ops does.
 */
export class Adam {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  readonly #fused: FusedAdam | null;

  constructor(
    readonly model: Model,
    readonly config: TrainConfig,
    options: { readonly fused?: boolean } = {},
  ) {
    // ECG_TMP_ADAM=ops keeps the tfjs ops everywhere (benchmarks measure both in one run).
    const fused =
      options.fused ?? (process.env.ECG_TMP_ADAM !== 'ops' && ['cpu', 'wasm'].includes(tf.getBackend()));
    this.#fused = fused ? new FusedAdam(model.params.trainable) : null;
    if (fused) return;
    for (const p of model.params.trainable) {
      this.m.set(p.name, tf.variable(tf.zeros([...p.shape]), false));
      this.v.set(p.name, tf.variable(tf.zeros([...p.shape]), false));
    }
  }

  /** `t` is the 1-based step number (bias correction). */
  apply(grads: Map<string, tf.Tensor>, lr: number, t: number): void {
    const { beta1: b1, beta2: b2, eps, gradClip } = this.config;
    if (this.#fused) {
      this.#fused.apply(grads, { beta1: b1, beta2: b2, eps, gradClip, lr, t });
      return;
    }
    tf.tidy(() => {
      let scale: tf.Tensor | number = 1;
      if (gradClip > 0) {
        // A chain of adds, not addN: WebGPU caps the buffers one shader may bind (8 on SwiftShader).
        let squares: tf.Tensor = tf.scalar(0);
        for (const g of grads.values()) squares = tf.add(squares, tf.sum(tf.square(g)));
        const norm = tf.sqrt(squares);
        scale = tf.minimum(1, tf.div(gradClip, tf.add(norm, 1e-6)));
      }
      const c1 = 1 - b1 ** t;
      const c2 = 1 - b2 ** t;
      for (const p of this.model.params.trainable) {
        const g = tf.mul(grads.get(p.name)!, scale);
        const m = this.m.get(p.name)!;
        const v = this.v.get(p.name)!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        p.variable.assign(tf.sub(p.variable, tf.mul(update, lr)));
      }
    });
  }

  async read(): Promise<Map<string, Float32Array>> {
    if (this.#fused) return this.#fused.read();
    const out = new Map<string, Float32Array>();
    for (const [name, m] of this.m) out.set(`adam.m.${name}`, (await m.data()) as Float32Array);
    for (const [name, v] of this.v) out.set(`adam.v.${name}`, (await v.data()) as Float32Array);
    return out;
  }

  write(arrays: ReadonlyMap<string, Float32Array>): void {
    this.#fused?.write(arrays);
    for (const [prefix, map] of [
      ['adam.m.', this.m],
      ['adam.v.', this.v],
    ] as const) {
      for (const [name, variable] of map) {
        const a = arrays.get(prefix + name);
        if (a === undefined || a.length !== variable.size)
          throw new Error(`checkpoint lacks ${prefix}${name}`);
        variable.assign(tf.tensor(a, variable.shape));
      }
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/** The training order of epoch `epoch`: a seeded Fisher–Yates permutation. */
export function epochOrder(seed: number, epoch: number, count: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const rng = samplePrng(seed, epoch, 2);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/**
 * One optimiser step on one batch: forward, loss, gradients, BatchNorm statistics, Adam. `step` is the
 * 0-based global step (it seeds the dropout masks). Returns the batch loss before the update.
 */
export async function trainStep(
  model: Model,
  adam: Adam,
  batch: Batch,
  config: TrainConfig,
  step: number,
  lr: number,
): Promise<number> {
  const trainable = model.params.trainable.map((p) => p.variable);
  const nameOf = new Map(model.params.trainable.map((p) => [p.variable.name, p.name]));
  const ctx = new ForwardContext(true, config.seed, step);
  ctx.memoryVariance = config.memoryVariance ?? 0;
  const ecg = tf.tensor3d(batch.ecg.data, batch.ecg.shape);
  const vm = tf.tensor3d(batch.vm.data, batch.vm.shape);
  const unrolled = unrolledStep(model, config, step);
  const input = unrolled ? vm : scheduledInput(model, config, step, ecg, vm);
  const { value, grads } = tf.variableGrads(() => {
    const loss = lossOf(
      config,
      unrolled ? model.unrolledForward!(ecg, ctx) : model.trainForward(ecg, input, ctx),
      vm,
    );
    // Regularisers the pass added (--memory-variance): part of the loss minimised and logged.
    return ctx.extraLosses.length === 0 ? loss : (tf.addN([loss, ...ctx.extraLosses]) as tf.Scalar);
  }, trainable);
  ctx.applyStateUpdates();
  adam.apply(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g])), lr, step + 1);
  const loss = (await value.data())[0]!;
  tf.dispose([value, ecg, vm, ...(input === vm ? [] : [input]), ...Object.values(grads)]);
  return loss;
}

/** The random stream of scheduled sampling's segment choices (apart from order, dropout and init). */
const SAMPLING_STREAM = 11;
/** The random stream of `--sampling unrolled`'s choice per step. */
const UNROLL_STREAM = 12;

/**
 * Whether step `step` trains on the free-running decode itself (`--sampling unrolled`): with the
 * step's sampling probability, drawn from (seed, step) so a resume repeats it.
 */
export function unrolledStep(model: Model, config: TrainConfig, step: number): boolean {
  if (config.sampling !== 'unrolled' || model.unrolledForward === undefined) return false;
  return samplePrng(config.seed, step, UNROLL_STREAM).next() < samplingProbability(config, step);
}

/**
 * The decoder input of one step under scheduled sampling: the true tokens, with each 10-token segment
 * (per sample, chosen from (seed, step)) replaced by the model's own prediction of it with the step's
 * probability. The predictions come from a pass without dropout and without gradients: teacher-forced
 * ('parallel') or free-running from the first 10 ECG steps ('free-running'). Returns `vm` itself when
 * nothing is replaced.
 */
export function scheduledInput(
  model: Model,
  config: TrainConfig,
  step: number,
  ecg: tf.Tensor3D,
  vm: tf.Tensor3D,
): tf.Tensor3D {
  const p = samplingProbability(config, step);
  if (p <= 0 || model.architecture !== 'transformer' || config.sampling === 'unrolled') return vm;
  const [b, t] = vm.shape;
  const segments = t / SEGMENT;
  const rng = samplePrng(config.seed, step, SAMPLING_STREAM);
  const mask = new Float32Array(b * segments);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < p ? 1 : 0;
  if (mask.every((m) => m === 0)) return vm;
  return tf.tidy(() => {
    const own =
      config.sampling === 'free-running'
        ? model.predict(ecg)
        : model.trainForward(ecg, vm, ForwardContext.inference());
    // Made outside variableGrads, so no gradient flows into the model's own predictions.
    // [b, segments] → [b, t, 1]: one choice per 10-token segment, broadcast over its tokens and sites.
    const m = tf.reshape(
      tf.tile(tf.reshape(tf.tensor2d(mask, [b, segments]), [b, segments, 1]), [1, 1, SEGMENT]),
      [b, t, 1],
    );
    return tf.add(tf.mul(m, tf.sub(own, vm)), vm) as tf.Tensor3D;
  });
}

/** Mean loss over (at most `limit` of) a split, in inference mode; the Transformer teacher-forced. */
export async function splitLoss(
  model: Model,
  config: TrainConfig,
  split: Cache['val'],
  limit: number,
): Promise<number> {
  const count = limit > 0 ? Math.min(limit, split.count) : split.count;
  let sum = 0;
  for (let from = 0; from < count; from += config.batch) {
    const idx = Array.from({ length: Math.min(config.batch, count - from) }, (_, i) => from + i);
    const batch = gatherBatch(split, idx, model.inputSteps);
    const loss = tf.tidy(() => {
      const ecg = tf.tensor3d(batch.ecg.data, batch.ecg.shape);
      const vm = tf.tensor3d(batch.vm.data, batch.vm.shape);
      return lossOf(config, model.trainForward(ecg, vm, ForwardContext.inference()), vm);
    });
    sum += (await loss.data())[0]! * idx.length;
    loss.dispose();
  }
  return sum / count;
}

/** What a free-running validation measures. */
export interface FreeRunScores {
  /** Pooled R², normalised scale. */
  readonly r2: number;
  /** Activation-time error (ms, core's activationTimes at 0 mV) over the sites where both activate; null if none do. */
  readonly activationMaeMs: number | null;
  /** Mean predicted − true activation time (ms) over the same sites: > 0 when the reconstruction is late. */
  readonly activationBiasMs: number | null;
}

/**
 * Scores of the model's inference pass over the first `limit` samples of a split — for the Transformer
 * the free-running decode from the first 10 ECG steps, as evaluation runs it: pooled R² (normalised
 * scale) and the activation-time error, measured as `npm run evaluate` measures them.
 */
export async function freeRunScores(
  model: Model,
  split: CacheSplit,
  limit: number,
  batch: number,
): Promise<FreeRunScores> {
  const count = Math.min(limit, split.count);
  const acc = new MetricsAccumulator({ spearman: false });
  const atTrue = new Int32Array(count * N_SITES);
  const atPred = new Int32Array(count * N_SITES);
  for (let from = 0; from < count; from += batch) {
    const idx = Array.from({ length: Math.min(batch, count - from) }, (_, i) => from + i);
    const b = gatherBatch(split, idx, model.inputSteps);
    const prediction = tf.tidy(() => model.predict(tf.tensor3d(b.ecg.data, b.ecg.shape)));
    const predicted = (await prediction.data()) as Float32Array;
    prediction.dispose();
    acc.add(b.vm.data, predicted);
    // [n, 500, 75] normalised → [n, 75, 500] mV, the layout and scale activationTimes reads.
    const mv = (data: Float32Array) =>
      denormaliseVm(toChannelsFirst(data, [idx.length, N_STEPS, N_SITES]), NORMALISATION.tmp);
    atTrue.set(activationTimes(mv(b.vm.data)), from * N_SITES);
    atPred.set(activationTimes(mv(predicted)), from * N_SITES);
  }
  const activation = activationStats(atTrue, atPred);
  return { r2: acc.result().r2, activationMaeMs: activation.maeMs, activationBiasMs: activation.biasMs };
}

/**
 * Samples and time stride of the output-LayerNorm fit: 256 samples at every 4th step (31k tokens) fit in
 * about 10 s; neighbouring steps of one trace add little.
 */
const OUTPUT_FIT_SAMPLES = 256;
const OUTPUT_FIT_STRIDE = 4;

/**
 * The normalised Vm tokens the decoder predicts (steps 10, 14, …, 498) of up to OUTPUT_FIT_SAMPLES
 * training samples spread evenly over the first `count`: [tokens, 75], token-major.
 */
export function outputTokens(split: CacheSplit, count: number): { tokens: Float32Array; samples: number } {
  const samples = Math.min(count, OUTPUT_FIT_SAMPLES);
  const per = N_SITES * N_STEPS;
  const raw = new Float32Array(samples * per);
  for (let i = 0; i < samples; i++) {
    const idx = Math.floor((i * count) / samples);
    raw.set(split.vm.subarray(idx * per, (idx + 1) * per), i * per);
  }
  const normalised = normaliseVm({ data: raw, shape: [samples, N_SITES, N_STEPS] }, NORMALISATION.tmp);
  const all = toChannelsLast(normalised); // [samples, 500, 75]
  const perSample = Math.ceil((N_STEPS - SEGMENT) / OUTPUT_FIT_STRIDE);
  const tokens = new Float32Array(samples * perSample * N_SITES);
  let at = 0;
  for (let i = 0; i < samples; i++) {
    for (let step = SEGMENT; step < N_STEPS; step += OUTPUT_FIT_STRIDE) {
      const from = (i * N_STEPS + step) * N_SITES;
      tokens.set(all.subarray(from, from + N_SITES), at);
      at += N_SITES;
    }
  }
  return { tokens, samples };
}

/** Fits the model's output LayerNorm to the training tokens and writes γ, β into it. */
function startOutputNorm(model: Model, split: CacheSplit, count: number): OutputInitRecord {
  if (model.outputNorm === undefined) {
    throw new InputError('bad_value', `--output-init fit: ${model.architecture} has no output LayerNorm`);
  }
  const { tokens, samples } = outputTokens(split, count);
  const fit = fitOutputNorm(tokens, N_SITES);
  model.outputNorm.gamma.assign(tf.tensor1d(fit.gamma));
  model.outputNorm.beta.assign(tf.tensor1d(fit.beta));
  return {
    method: 'least-squares',
    samples,
    tokens: fit.tokens,
    r2: fit.r2,
    steps: fit.steps,
    gamma: Array.from(fit.gamma),
    beta: Array.from(fit.beta),
  };
}

/** Arrays of a model's parameters and the optimiser state, as checkpoint.bin stores them. */
async function snapshot(model: Model, adam?: Adam): Promise<Map<string, Float32Array>> {
  const arrays = new Map<string, Float32Array>();
  for (const [name, a] of await model.params.read()) arrays.set(`param.${name}`, a);
  if (adam) for (const [name, a] of await adam.read()) arrays.set(name, a);
  return arrays;
}

/**
 * The cache folder a run was trained on, on this machine: the recorded one if it is here, else — for a
 * run on the embedded synthetic data (a run committed from another machine) — the same set, made here.
 */
export async function runDataset(state: RunState): Promise<string> {
  const here = await readFile(join(state.dataset, 'index.json')).then(
    () => true,
    () => false,
  );
  if (here || state.config.data !== 'synthetic') return state.dataset;
  return resolveDataset(state.config);
}

/** The checkpoint a run started from (config.initFrom). */
export interface InitFromRecord {
  readonly file: string;
  readonly sha256: string;
  /** That run's step, data set and data variant when the checkpoint was written. */
  readonly step: number;
  readonly dataset: string;
  readonly syntheticAp: string;
}

/**
 * Writes the weights of config.initFrom's checkpoint into `model`, after checking that it is a checkpoint
 * of the same model: architecture and the options that shape its parameters. InputError('bad_value')
 * otherwise, naming what differs.
 */
async function initialWeights(model: Model, config: TrainConfig): Promise<InitFromRecord> {
  const file = config.initFrom;
  let source: Awaited<ReturnType<typeof readCheckpoint<RunState>>>;
  try {
    source = await readCheckpoint<RunState>(file);
  } catch (err) {
    throw new InputError(
      'bad_value',
      `--init-from ${file}: not a readable checkpoint (${(err as Error).message})`,
    );
  }
  const from = source.state.config;
  const shape = (c: TrainConfig) =>
    `${c.model}, output head ${c.outputHead ?? 'norm'}, bidirectional ${c.bidirectional ?? false}, conv channels ${(c.convChannels ?? CNN_LSTM_CHANNELS).join(',')}, LSTM hidden ${c.lstmHidden ?? LSTM_HIDDEN}, encoder input ${c.encoderInput ?? 'prediction'}`;
  if (shape(from) !== shape(config))
    throw new InputError(
      'bad_value',
      `--init-from ${file}: that run is ${shape(from)}; this one is ${shape(config)} — start from a checkpoint of the same model`,
    );
  try {
    model.params.write(paramsOnly(source.arrays));
  } catch (err) {
    throw new InputError('bad_value', `--init-from ${file}: ${(err as Error).message}`);
  }
  return {
    file,
    sha256: source.sha256,
    step: source.state.step,
    dataset: source.state.dataset,
    syntheticAp: from.syntheticAp ?? 'drawn',
  };
}

/**
 * A fresh model as a run's config defines it (architecture, seed, and the options a checkpoint from before
 * an option existed lacks, read as that option's default).
 */
export function modelOf(config: TrainConfig): Model {
  return createModel(config.model, config.seed, {
    outputHead: config.outputHead ?? 'norm',
    lookahead: config.lookahead ?? 0,
    bidirectional: config.bidirectional ?? false,
    encoderInput: config.encoderInput ?? 'prediction',
    convChannels: config.convChannels ?? CNN_LSTM_CHANNELS,
    lstmHidden: config.lstmHidden ?? LSTM_HIDDEN,
  });
}

/** Loads a run's weights (best.bin by default) into a fresh model on the running backend. */
export async function loadRunModel(
  runDir: string,
  which: 'best' | 'last' = 'best',
): Promise<{ model: Model; state: RunState }> {
  const file = join(runDir, which === 'best' ? BEST_FILE : CHECKPOINT_FILE);
  const { state, arrays } = await readCheckpoint<RunState>(file);
  const model = modelOf(state.config);
  model.params.write(paramsOnly(arrays));
  return { model, state };
}

/**
 * Trains (or resumes) one run and returns its final state.
 * @example
 * const state = await train({ ...DEFAULTS, ...preset('cnn-lstm'), out: 'runs/lstm' } as TrainConfig);
 */
export async function train(configIn: TrainConfig, options: TrainOptions = {}): Promise<RunState> {
  const emit = options.onEvent ?? (() => undefined);
  const checkpointPath = join(configIn.out, CHECKPOINT_FILE);
  let restored: { state: RunState; arrays: Map<string, Float32Array> } | undefined;
  if (options.resume) {
    restored = await readCheckpoint<RunState>(checkpointPath);
    // Another backend only when asked for (--backend on the resume, a logged change): the weights,
    // optimiser, RNG and data position carry over, but bit-for-bit continuation is per backend.
    if (restored.state.config.backend !== configIn.backend && options.changes?.backend === undefined) {
      throw new InputError(
        'bad_value',
        `--resume: the run was trained on '${restored.state.config.backend}'; resume it on the same backend (bit-for-bit continuation is per backend), or ask for another with --backend`,
      );
    }
  }
  // A checkpoint from before a setting existed resumes with that setting's default (each default is the
  // behaviour such runs had).
  // A run resumes where its checkpoint is now (a committed run in a fresh clone), not where it was made.
  const changes = restored ? resumeChanges(restored.state.config, options.changes ?? {}) : {};
  const config: TrainConfig = restored
    ? validateConfig({
        ...DEFAULTS,
        ...restored.state.config,
        ...Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, v.to])),
        out: configIn.out,
      } as TrainConfig)
    : configIn;
  const backend = await startBackend(config.backend);

  // 1. Data.
  const datasetDir = await resolveDataset(config);
  const cache = await openCache(datasetDir);
  const trainCount =
    config.trainLimit > 0 ? Math.min(config.trainLimit, cache.train.count) : cache.train.count;
  if (trainCount < 1) throw new InputError('bad_dataset', `${datasetDir} has no training samples`);
  if (cache.val.count < 1) throw new InputError('bad_dataset', `${datasetDir} has no validation samples`);
  const stepsPerEpoch = Math.ceil(trainCount / config.batch);

  // 2. Model and optimiser.
  const model = modelOf(config);
  const adam = new Adam(model, config);
  const state: RunState = restored
    ? { ...restored.state, config }
    : {
        config,
        step: 0,
        epoch: 0,
        stepInEpoch: 0,
        epochLossSum: 0,
        epochSamples: 0,
        bestVal: null,
        bestEpoch: null,
        epochsWithoutImprovement: 0,
        trainMs: 0,
        finished: false,
        stopReason: null,
        backend: backend.name,
        device: backend.device,
        dataset: datasetDir,
        bestFreeRunR2: null,
        bestStep: null,
        outputInit: null,
      };
  if (restored) {
    state.dataset = datasetDir;
    if (
      'loss' in changes ||
      'huberDelta' in changes ||
      'crossingWeight' in changes ||
      'lookahead' in changes
    ) {
      // Losses of another kind, or of another model, do not compare: the best validation loss, the
      // patience count and the partial epoch's training-loss sums start again (best.bin is kept until the
      // first validation after the change replaces it).
      state.bestVal = null;
      state.epochsWithoutImprovement = 0;
      state.epochLossSum = 0;
      state.epochSamples = 0;
    }
    model.params.write(paramsOnly(restored.arrays));
    adam.write(restored.arrays);
  } else if ((config.initFrom ?? '') !== '') {
    state.initFrom = await initialWeights(model, config);
  } else if (config.outputInit === 'fit') {
    state.outputInit = startOutputNorm(model, cache.train, trainCount);
  }
  await mkdir(config.out, { recursive: true });
  let savedAt = performance.now();
  const save = async () => {
    await writeCheckpoint(checkpointPath, state, await snapshot(model, adam));
    savedAt = performance.now();
  };
  emit({ kind: 'start', state, trainCount, valCount: cache.val.count, stepsPerEpoch, backend });
  if (Object.keys(changes).length > 0) {
    await appendFile(
      join(config.out, LOG_FILE),
      `${JSON.stringify({ resumedAt: state.step, epoch: state.epoch, changed: changes, time: new Date().toISOString() })}\n`,
    );
  }

  const patienceSpent = () => config.patience > 0 && state.epochsWithoutImprovement >= config.patience;
  /** What ends the run now, at an epoch's end or on a resume; null if nothing does. */
  const stopNow = (): RunState['stopReason'] =>
    state.epoch >= config.epochs
      ? 'epochs'
      : patienceSpent()
        ? 'early-stopping'
        : config.maxSteps > 0 && state.step >= config.maxSteps
          ? 'max-steps'
          : null;
  // A run that had ended goes on when its settings now lift what ended it (more epochs or steps, more
  // patience, a new loss; given with this resume or stored by an earlier one); otherwise it stays ended.
  if (restored && state.finished && stopNow() === null) {
    state.finished = false;
    state.stopReason = null;
  }
  /**
   * Validation at an epoch's end, or within one (every config.evalEvery steps): the loss, the free-running
   * R² if asked for, the bests, the log line. Returns whether the selected figure improved.
   */
  const validate = async (midEpoch: boolean): Promise<boolean> => {
    const lr = learningRate(config, state.epoch, state.step - 1);
    const valLoss = await splitLoss(model, config, cache.val, config.valLimit);
    const freeRun =
      config.freeRunLimit > 0
        ? await freeRunScores(model, cache.val, config.freeRunLimit, config.batch)
        : null;
    const trainLoss = state.epochLossSum / state.epochSamples;
    const lossImproved = state.bestVal === null || valLoss < state.bestVal;
    const r2Improved = freeRun !== null && (state.bestFreeRunR2 == null || freeRun.r2 > state.bestFreeRunR2);
    if (lossImproved) state.bestVal = valLoss;
    if (r2Improved) state.bestFreeRunR2 = freeRun.r2;
    const improved = config.selectBy === 'free-running-r2' ? r2Improved : lossImproved;
    if (improved) {
      state.bestEpoch = state.epoch;
      state.bestStep = state.step;
      state.epochsWithoutImprovement = 0;
    } else {
      state.epochsWithoutImprovement++;
    }
    await appendFile(
      join(config.out, LOG_FILE),
      `${JSON.stringify({ epoch: state.epoch, step: state.step, ...(midEpoch ? { midEpoch } : {}), lr, trainLoss, valLoss, ...(freeRun === null ? {} : { freeRunR2: freeRun.r2, freeRunActivationMs: freeRun.activationMaeMs, freeRunActivationBiasMs: freeRun.activationBiasMs }), best: improved, trainMs: Math.round(state.trainMs), time: new Date().toISOString() })}\n`,
    );
    emit({ kind: 'epoch', state, midEpoch, trainLoss, valLoss, freeRun, lr, improved });
    return improved;
  };

  try {
    while (!state.finished) {
      const order = epochOrder(config.seed, state.epoch, trainCount);
      // 3. Steps.
      while (state.stepInEpoch < stepsPerEpoch) {
        // A step is all synchronous work and resolved promises; one macrotask turn lets a pending
        // SIGINT handler run, so a stop request is seen at the next step rather than the next epoch.
        await new Promise((resolve) => setImmediate(resolve));
        if (options.shouldStop?.()) {
          await save();
          emit({ kind: 'stop', state, reason: 'interrupted' });
          return state;
        }
        const t0 = performance.now();
        const from = state.stepInEpoch * config.batch;
        const idx = Array.from(order.subarray(from, Math.min(trainCount, from + config.batch)));
        const batch = gatherBatch(cache.train, idx, model.inputSteps);
        const lr = learningRate(config, state.epoch, state.step);
        const loss = await trainStep(model, adam, batch, config, state.step, lr);
        if (!Number.isFinite(loss)) {
          throw new Error(`loss became ${loss} at step ${state.step}; try a lower --lr or --grad-clip`);
        }
        state.step++;
        state.stepInEpoch++;
        state.epochLossSum += loss * idx.length;
        state.epochSamples += idx.length;
        const ms = performance.now() - t0;
        state.trainMs += ms;
        emit({ kind: 'step', state, loss, samplesPerSec: (idx.length * 1000) / ms, stepsPerEpoch });
        if (config.maxSteps > 0 && state.step >= config.maxSteps) break;
        if (
          config.evalEvery > 0 &&
          state.step % config.evalEvery === 0 &&
          state.stepInEpoch < stepsPerEpoch
        ) {
          if (await validate(true))
            await writeCheckpoint(join(config.out, BEST_FILE), state, await snapshot(model));
          if (patienceSpent()) {
            state.finished = true;
            state.stopReason = 'early-stopping';
            break;
          }
          await save();
        }
        if (
          config.checkpointMinutes > 0 &&
          state.stepInEpoch < stepsPerEpoch &&
          performance.now() - savedAt >= config.checkpointMinutes * 60_000
        ) {
          await save();
        }
      }
      if (state.finished) break;
      const epochDone = state.stepInEpoch >= stepsPerEpoch;
      if (!epochDone) {
        state.finished = true;
        state.stopReason = 'max-steps';
        break;
      }
      // 4. Validation, log, checkpoints, early stopping.
      const improved = await validate(false);
      state.epoch++;
      state.stepInEpoch = 0;
      state.epochLossSum = 0;
      state.epochSamples = 0;
      const stop = stopNow();
      if (stop !== null) {
        state.finished = true;
        state.stopReason = stop;
      }
      if (improved) await writeCheckpoint(join(config.out, BEST_FILE), state, await snapshot(model));
      await save();
    }
    if (state.bestVal === null) {
      // Stopped by --max-steps inside the first epoch: the last weights are the best we have.
      await writeCheckpoint(join(config.out, BEST_FILE), state, await snapshot(model));
    }
    await save();
    emit({ kind: 'stop', state, reason: 'finished' });
    return state;
  } finally {
    adam.dispose();
    model.dispose();
  }
}
