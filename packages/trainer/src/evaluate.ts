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
  type EcgNormalisation,
  InputError,
  type Metrics,
  MetricsAccumulator,
  N_LEADS,
  N_SITES,
  N_STEPS,
  normaliseVm,
  prepareEcg,
  type Signal,
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

/** Prepares a raw-mV ECG batch as experiment `exp` feeds it to a model (core's prepareEcg). */
export function modelInput(ecg: Signal, exp: Experiment, method: EcgNormalisation): Signal {
  return prepareEcg(ecg, { limitedTime: exp === 'limited', method });
}

/**
 * Runs `predict` over a split under each experiment and returns the pooled metrics.
 * @example
 * const { full, limited } = await evaluate(predict, cache.test, { normalisation: manifest.normalisation });
 */
export async function evaluate(
  predict: Predictor,
  split: CacheSplit,
  options: EvaluateOptions,
): Promise<Partial<Record<Experiment, Metrics>>> {
  const batchSize = options.batchSize ?? 32;
  const count = Math.min(split.count, options.limit ?? split.count);
  if (count < 1) throw new InputError('bad_dataset', 'evaluate: the split has no samples');
  const result: Partial<Record<Experiment, Metrics>> = {};
  for (const exp of options.experiments ?? EXPERIMENTS) {
    const acc = new MetricsAccumulator();
    for (let from = 0; from < count; from += batchSize) {
      const to = Math.min(count, from + batchSize);
      const { ecg, vm } = splitBatch(split, from, to);
      const prediction = await predict(modelInput(ecg, exp, options.normalisation.ecg));
      const target = normaliseVm(vm, options.normalisation.tmp);
      if (prediction.data.length !== target.data.length) {
        throw new InputError(
          'bad_shape',
          `evaluate: predictor returned [${prediction.shape.join(', ')}], expected [${target.shape.join(', ')}]`,
        );
      }
      acc.add(target.data, prediction.data);
    }
    result[exp] = acc.result();
  }
  return result;
}
