/**
 * @module
 * From the cache's raw-mV signals [C, T] per sample to the channels-last, normalised tensors the models
 * read: ecg [n, T, 12] and vm [n, 500, 75]. Which ECG a model sees is the paper's protocol: the CNNs the
 * whole 500 steps (Exp I) or the first 10 with zeros after (Exp II); the Transformer always only the
 * first 10 steps, normalised over those steps alone (as Exp II does), in training and in evaluation.
 */

import {
  type EcgNormalisation,
  N_LEADS,
  N_SITES,
  N_STEPS,
  normaliseVm,
  type Signal,
  type VmNormalisation,
} from '@ecg-tmp/core';
import type { CacheSplit } from './data.ts';
import { SAMPLE_VALUES } from './data.ts';
import { type Experiment, modelInput } from './evaluate.ts';

export const NORMALISATION = { ecg: 'lead-range', tmp: 'vm-affine' } as const satisfies {
  ecg: EcgNormalisation;
  tmp: VmNormalisation;
};

/** [n, C, T] → [n, steps, C] keeping the first `steps` time steps. */
export function toChannelsLast(signal: Signal, steps = signal.shape[2]): Float32Array {
  const [n, c, t] = signal.shape;
  const out = new Float32Array(n * steps * c);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (b * c + ch) * t;
      for (let s = 0; s < steps; s++) out[(b * steps + s) * c + ch] = signal.data[src + s]!;
    }
  }
  return out;
}

/** [n, T, C] → [n, C, T]. */
export function toChannelsFirst(data: Float32Array, shape: readonly [number, number, number]): Signal {
  const [n, t, c] = shape;
  const out = new Float32Array(n * c * t);
  for (let b = 0; b < n; b++) {
    for (let s = 0; s < t; s++) {
      const src = (b * t + s) * c;
      for (let ch = 0; ch < c; ch++) out[(b * c + ch) * t + s] = data[src + ch]!;
    }
  }
  return { data: out, shape: [n, c, t] };
}

/** The ECG a model reads, channels-last: [n, 500, 12], or [n, 10, 12] for `steps` = 10. */
export function ecgInput(
  ecg: Signal,
  exp: Experiment,
  steps: number,
): { data: Float32Array; shape: [number, number, number] } {
  const normalised = modelInput(ecg, exp, NORMALISATION.ecg);
  return { data: toChannelsLast(normalised, steps), shape: [ecg.shape[0], steps, N_LEADS] };
}

export interface Batch {
  readonly ecg: { data: Float32Array; shape: [number, number, number] };
  readonly vm: { data: Float32Array; shape: [number, number, number] };
}

/** Gathers samples `indices` of a split into one batch. */
export function gatherBatch(
  split: CacheSplit,
  indices: readonly number[],
  inputSteps: number | 'all',
): Batch {
  const n = indices.length;
  const { ecg: es, vm: vs } = SAMPLE_VALUES;
  const ecg = new Float32Array(n * es);
  const vm = new Float32Array(n * vs);
  indices.forEach((idx, i) => {
    ecg.set(split.ecg.subarray(idx * es, (idx + 1) * es), i * es);
    vm.set(split.vm.subarray(idx * vs, (idx + 1) * vs), i * vs);
  });
  const steps = inputSteps === 'all' ? N_STEPS : inputSteps;
  const exp: Experiment = inputSteps === 'all' ? 'full' : 'limited';
  const target = normaliseVm({ data: vm, shape: [n, N_SITES, N_STEPS] }, NORMALISATION.tmp);
  return {
    ecg: ecgInput({ data: ecg, shape: [n, N_LEADS, N_STEPS] }, exp, steps),
    vm: { data: toChannelsLast(target), shape: [n, N_STEPS, N_SITES] },
  };
}
