/**
 * @module
 * How well a reconstruction matches the truth, as the page reports it: core's metrics on the model's
 * normalised Vm scale ((V + 85.5 mV) / 135.5 mV for `vm-affine`), the scale the paper's MAE of 0.0357 is
 * on, plus the same MAE in mV, the mean activation-time error over the sites that activate in both and
 * the mean repolarisation-time error (core's repolarisationTimes: the last fall below −60 mV) over the
 * sites that repolarise in both.
 */

import {
  activationTimes,
  computeMetrics,
  N_SITES,
  N_STEPS,
  normaliseVm,
  repolarisationTimes,
  type VmNormalisation,
} from '@ecg-tmp/core';

export interface SampleScore {
  /** On the normalised scale named by `scale`. */
  readonly mae: number;
  readonly r2: number;
  readonly pearson: number;
  readonly scale: VmNormalisation;
  /** The same MAE in mV. */
  readonly maeMv: number;
  /** Mean |predicted − true| activation time (ms) over sites that activate in both; NaN if none do. */
  readonly activationMaeMs: number;
  /** Mean |predicted − true| repolarisation time (ms) over sites that repolarise in both; NaN if none do. */
  readonly repolarisationMaeMs: number;
}

/**
 * Scores one reconstruction (75 × 500, mV) against the truth (75 × 500, mV).
 * @example
 * const { mae, r2 } = scoreSample(sample.tmp, result.tmp, r.manifest.normalisation.tmp);
 */
export function scoreSample(
  truthMv: Float32Array,
  predMv: Float32Array,
  scale: VmNormalisation,
): SampleScore {
  const shape = [1, N_SITES, N_STEPS] as const;
  const truth = normaliseVm({ data: truthMv, shape }, scale).data;
  const pred = normaliseVm({ data: predMv, shape }, scale).data;
  const m = computeMetrics(truth, pred);
  let absMv = 0;
  for (let i = 0; i < truthMv.length; i++) absMv += Math.abs(predMv[i]! - truthMv[i]!);
  const times = (f: typeof activationTimes) =>
    meanAbsTimeError(f({ data: truthMv, shape }), f({ data: predMv, shape }));
  return {
    mae: m.mae,
    r2: m.r2,
    pearson: m.pearson,
    scale,
    maeMv: absMv / truthMv.length,
    activationMaeMs: times(activationTimes),
    repolarisationMaeMs: times(repolarisationTimes),
  };
}

/** Mean |predicted − true| (ms) over the sites timed in both (−1 marks a site without a time); NaN if none. */
function meanAbsTimeError(truth: Int32Array, pred: Int32Array): number {
  let sum = 0;
  let n = 0;
  for (let s = 0; s < truth.length; s++) {
    if (truth[s]! < 0 || pred[s]! < 0) continue;
    sum += Math.abs(pred[s]! - truth[s]!);
    n++;
  }
  return n > 0 ? sum / n : Number.NaN;
}
