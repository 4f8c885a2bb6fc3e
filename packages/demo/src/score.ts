/**
 * @module
 * How well a reconstruction matches the truth, as the page reports it: core's metrics on the model's
 * normalised Vm scale ((V + 85.5 mV) / 135.5 mV for `vm-affine`), the scale the paper's MAE of 0.0357 is
 * on, plus the same MAE in mV and the mean activation-time error over the sites that activate in both.
 */

import {
  activationTimes,
  computeMetrics,
  N_SITES,
  N_STEPS,
  normaliseVm,
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
  const atTrue = activationTimes({ data: truthMv, shape });
  const atPred = activationTimes({ data: predMv, shape });
  let sum = 0;
  let n = 0;
  for (let s = 0; s < N_SITES; s++) {
    if (atTrue[s]! < 0 || atPred[s]! < 0) continue;
    sum += Math.abs(atPred[s]! - atTrue[s]!);
    n++;
  }
  return {
    mae: m.mae,
    r2: m.r2,
    pearson: m.pearson,
    scale,
    maeMv: absMv / truthMv.length,
    activationMaeMs: n > 0 ? sum / n : Number.NaN,
  };
}
