/**
 * @module
 * The paper's evaluation protocol for any predictor, on the normalised scale where its numbers live:
 *   Exp I  (full time):    the whole 12×500 ECG in;
 *   Exp II (limited time): X̃ = [X₀ 0], the first 10 ms kept and the rest zeroed (before the ECG
 *                          normalisation, so the lead ranges only see the kept steps).
 * Targets are the Vm traces normalised as the model expects; the five metrics are pooled over every
 * value of the split (MetricsAccumulator).
 */

import {
  type Architecture,
  type EcgNormalisation,
  InputError,
  type Metrics,
  MetricsAccumulator,
  N_LEADS,
  N_SITES,
  N_STEPS,
  NOT_ACTIVATED,
  NOT_REPOLARISED,
  normaliseVm,
  prepareEcg,
  readsFirstStepsOnly,
  type Signal,
  type Spread,
  SpreadAccumulator,
  type VmNormalisation,
} from '@ecg-tmp/core';
import { type CacheSplit, SAMPLE_VALUES } from './data.ts';

/** Normalised ECG [B, 12, 500] → normalised TMP [B, 75, 500]. */
export type Predictor = (ecg: Signal) => Signal | Promise<Signal>;

export const EXPERIMENTS = ['full', 'limited'] as const;
export type Experiment = (typeof EXPERIMENTS)[number];

export interface EvaluateOptions {
  readonly normalisation: { readonly ecg: EcgNormalisation; readonly tmp: VmNormalisation };
  readonly experiments?: readonly Experiment[];
  /** Samples per predictor call. Default 32. */
  readonly batchSize?: number;
  /** Evaluate only the first `limit` samples. */
  readonly limit?: number;
  /** The model's architecture: a Transformer reads Exp II's input in both experiments (core's readsFirstStepsOnly). */
  readonly architecture?: Architecture;
  /**
   * Called with every batch of every experiment, in order: samples [from, from + n) of the split, their
   * true TMP in mV and the normalised prediction. Where one prediction serves both experiments it is
   * the same object in both calls.
   */
  readonly observe?: (exp: Experiment, from: number, truth: Signal, prediction: Signal) => void;
}

/** Slices samples [from, to) of a split as raw-mV signals. */
export function splitBatch(split: CacheSplit, from: number, to: number): { ecg: Signal; vm: Signal } {
  const n = to - from;
  const { ecg: ecgSize, vm: vmSize } = SAMPLE_VALUES;
  return {
    ecg: { data: split.ecg.subarray(from * ecgSize, to * ecgSize), shape: [n, N_LEADS, N_STEPS] },
    vm: { data: split.vm.subarray(from * vmSize, to * vmSize), shape: [n, N_SITES, N_STEPS] },
  };
}

/**
 * Prepares a raw-mV ECG batch as experiment `exp` feeds it to a model (core's prepareEcg); given the
 * architecture, a model that reads only the first 10 ms gets Exp II's input in both.
 */
export function modelInput(
  ecg: Signal,
  exp: Experiment,
  method: EcgNormalisation,
  architecture?: Architecture,
): Signal {
  return prepareEcg(ecg, {
    limitedTime: exp === 'limited',
    method,
    ...(architecture === undefined ? {} : { architecture }),
  });
}

/** The pooled metrics of one experiment, and how much the predictions vary from sample to sample. */
export type EvaluatedMetrics = Metrics & { readonly spread: Spread };

/**
 * Runs `predict` over a split under each experiment and returns the pooled metrics and the spread.
 * @example
 * const { full, limited } = await evaluate(predict, cache.test, { normalisation: manifest.normalisation });
 */
export async function evaluate(
  predict: Predictor,
  split: CacheSplit,
  options: EvaluateOptions,
): Promise<Partial<Record<Experiment, EvaluatedMetrics>>> {
  const batchSize = options.batchSize ?? 32;
  const count = Math.min(split.count, options.limit ?? split.count);
  if (count < 1) throw new InputError('bad_dataset', 'evaluate: the split has no samples');
  const experiments = options.experiments ?? EXPERIMENTS;
  const sums = experiments.map(() => ({
    acc: new MetricsAccumulator(),
    spread: new SpreadAccumulator(SAMPLE_VALUES.vm),
  }));
  // A model that reads only the first 10 ms gets the same input in both experiments (modelInput), so one
  // prediction a batch serves both: half the decoding for the Transformer.
  const sameInput = options.architecture !== undefined && readsFirstStepsOnly(options.architecture);
  for (let from = 0; from < count; from += batchSize) {
    const to = Math.min(count, from + batchSize);
    const { ecg, vm } = splitBatch(split, from, to);
    const target = normaliseVm(vm, options.normalisation.tmp);
    let shared: Signal | undefined;
    for (const [i, exp] of experiments.entries()) {
      const prediction =
        sameInput && shared !== undefined
          ? shared
          : await predict(modelInput(ecg, exp, options.normalisation.ecg, options.architecture));
      shared = prediction;
      if (prediction.data.length !== target.data.length) {
        throw new InputError(
          'bad_shape',
          `evaluate: predictor returned [${prediction.shape.join(', ')}], expected [${target.shape.join(', ')}]`,
        );
      }
      sums[i]!.acc.add(target.data, prediction.data);
      sums[i]!.spread.add(target.data, prediction.data);
      options.observe?.(exp, from, vm, prediction);
    }
  }
  const result: Partial<Record<Experiment, EvaluatedMetrics>> = {};
  for (const [i, exp] of experiments.entries()) {
    result[exp] = { ...sums[i]!.acc.result(), spread: sums[i]!.spread.result() };
  }
  return result;
}

/** Activation times (ms) of every (sample, site), true vs predicted. */
export interface ActivationStats {
  /** Pairs where both activate; the MAE is over these. */
  readonly pairs: number;
  readonly maeMs: number | null;
  /** Mean of predicted − true over the same pairs: > 0 when the reconstruction activates late. */
  readonly biasMs: number | null;
  /** Sites that never pass 0 mV, in the data and in the prediction. */
  readonly notActivated: { readonly true: number; readonly predicted: number };
}

/** Repolarisation times (ms, last fall below −60 mV: core's repolarisationTimes), true vs predicted. */
export interface RepolarisationStats {
  /** Pairs where both repolarise within the window; both MAEs are over these. */
  readonly pairs: number;
  readonly maeMs: number | null;
  /** Of the action-potential duration, repolarisation − activation time. */
  readonly apdMaeMs: number | null;
  /** Sites never activated or still above −60 mV at the last step, in the data and in the prediction. */
  readonly notRepolarised: { readonly true: number; readonly predicted: number };
}

/** Activation-time errors over every (sample, site) of two activationTimes() results. */
export function activationStats(atTrue: Int32Array, atPred: Int32Array): ActivationStats {
  let pairs = 0;
  let sum = 0;
  let signed = 0;
  let notTrue = 0;
  let notPred = 0;
  for (let i = 0; i < atTrue.length; i++) {
    const t = atTrue[i]!;
    const p = atPred[i]!;
    if (t === NOT_ACTIVATED) notTrue++;
    if (p === NOT_ACTIVATED) notPred++;
    if (t !== NOT_ACTIVATED && p !== NOT_ACTIVATED) {
      pairs++;
      sum += Math.abs(p - t);
      signed += p - t;
    }
  }
  return {
    pairs,
    maeMs: pairs > 0 ? sum / pairs : null,
    biasMs: pairs > 0 ? signed / pairs : null,
    notActivated: { true: notTrue, predicted: notPred },
  };
}

/** Repolarisation-time and APD errors over two repolarisationTimes() results and their activation times. */
export function repolarisationStats(
  atTrue: Int32Array,
  atPred: Int32Array,
  rtTrue: Int32Array,
  rtPred: Int32Array,
): RepolarisationStats {
  let pairs = 0;
  let sum = 0;
  let apdSum = 0;
  let notTrue = 0;
  let notPred = 0;
  for (let i = 0; i < rtTrue.length; i++) {
    const t = rtTrue[i]!;
    const p = rtPred[i]!;
    if (t === NOT_REPOLARISED) notTrue++;
    if (p === NOT_REPOLARISED) notPred++;
    // A repolarised site has activated, so its activation time is there too.
    if (t !== NOT_REPOLARISED && p !== NOT_REPOLARISED) {
      pairs++;
      sum += Math.abs(p - t);
      apdSum += Math.abs(p - atPred[i]! - (t - atTrue[i]!));
    }
  }
  return {
    pairs,
    maeMs: pairs > 0 ? sum / pairs : null,
    apdMaeMs: pairs > 0 ? apdSum / pairs : null,
    notRepolarised: { true: notTrue, predicted: notPred },
  };
}
