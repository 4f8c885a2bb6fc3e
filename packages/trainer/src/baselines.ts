/**
 * @module
 * Two reference predictors that need no training run, so the evaluation pipeline has something to
 * measure on a fresh checkout and every learned model has a floor to beat:
 * - `mean`: the training set's mean normalised TMP, whatever the ECG (R² ≈ 0 by construction);
 * - `nearest`: the TMP of the training sample whose normalised ECG is nearest in L2 — a one-to-one
 *   lookup that, like the paper's CNN and LSTM, collapses when only the first 10 ms are given.
 */

import {
  type EcgNormalisation,
  N_LEADS,
  N_SITES,
  N_STEPS,
  normaliseEcg,
  normaliseVm,
  type Signal,
  type VmNormalisation,
} from '@ecg-tmp/core';
import { type CacheSplit, SAMPLE_VALUES } from './data.ts';
import type { Predictor } from './evaluate.ts';

export interface BaselineNormalisation {
  readonly ecg: EcgNormalisation;
  readonly tmp: VmNormalisation;
}

const { ecg: ECG_SIZE, vm: VM_SIZE } = SAMPLE_VALUES;

function targets(train: CacheSplit, method: VmNormalisation): Float32Array {
  return normaliseVm({ data: train.vm, shape: [train.count, N_SITES, N_STEPS] }, method).data;
}

/** Predicts the mean training TMP for every input. */
export function meanBaseline(train: CacheSplit, norm: BaselineNormalisation): Predictor {
  const vm = targets(train, norm.tmp);
  const mean = new Float64Array(VM_SIZE);
  for (let s = 0; s < train.count; s++) {
    for (let k = 0; k < VM_SIZE; k++) mean[k]! += vm[s * VM_SIZE + k]!;
  }
  const template = Float32Array.from(mean, (v) => v / train.count);
  return (ecg: Signal): Signal => {
    const [b] = ecg.shape;
    const out = new Float32Array(b * VM_SIZE);
    for (let i = 0; i < b; i++) out.set(template, i * VM_SIZE);
    return { data: out, shape: [b, N_SITES, N_STEPS] };
  };
}

/** Predicts the TMP of the training sample with the nearest normalised ECG. */
export function nearestBaseline(train: CacheSplit, norm: BaselineNormalisation): Predictor {
  const ecgs = normaliseEcg({ data: train.ecg, shape: [train.count, N_LEADS, N_STEPS] }, norm.ecg).signal
    .data;
  const vm = targets(train, norm.tmp);
  return (ecg: Signal): Signal => {
    const [b] = ecg.shape;
    const out = new Float32Array(b * VM_SIZE);
    for (let i = 0; i < b; i++) {
      const q = ecg.data.subarray(i * ECG_SIZE, (i + 1) * ECG_SIZE);
      let best = 0;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (let s = 0; s < train.count; s++) {
        const base = s * ECG_SIZE;
        let d = 0;
        for (let k = 0; k < ECG_SIZE && d < bestDistance; k++) {
          const diff = q[k]! - ecgs[base + k]!;
          d += diff * diff;
        }
        if (d < bestDistance) {
          bestDistance = d;
          best = s;
        }
      }
      out.set(vm.subarray(best * VM_SIZE, (best + 1) * VM_SIZE), i * VM_SIZE);
    }
    return { data: out, shape: [b, N_SITES, N_STEPS] };
  };
}

export const BASELINES = { mean: meanBaseline, nearest: nearestBaseline } as const;
export type BaselineName = keyof typeof BASELINES;
