/**
 * @module
 * The normalisations of the reference work (DSC-2023 starter code), named so a model manifest can say
 * which one a model expects, and the Exp II "limited time" input. Every package (trainer, edge, SDK)
 * pre- and post-processes through these functions and nothing else.
 *
 * - ECG `lead-range`: each sample's each lead divided by its (max − min) over time, no shift
 *   ("normalized_unit"). A flat lead (max = min) is left unscaled instead of dividing by zero.
 * - TMP `vm-affine`: (V + 85.50618677) / (50 + 85.50618677), i.e. −85.5 mV → 0 and +50 mV → 1;
 *   inverted exactly by `denormaliseVm`.
 */

import { InputError } from './errors.ts';
import { N_STEPS, type Signal } from './layout.ts';
import type { Architecture } from './manifest.ts';

/** Offset and span of the reference work's Vm scaling (mV). */
export const VM_OFFSET_MV = 85.50618677;
export const VM_SPAN_MV = 50 + VM_OFFSET_MV;

export const ECG_NORMALISATIONS = ['lead-range', 'none'] as const;
export type EcgNormalisation = (typeof ECG_NORMALISATIONS)[number];
export const VM_NORMALISATIONS = ['vm-affine', 'none'] as const;
export type VmNormalisation = (typeof VM_NORMALISATIONS)[number];

/** Steps kept by the paper's Exp II (the first 10 ms). */
export const LIMITED_TIME_STEPS = 10;

function assertFinite(s: Signal, what: string): void {
  const d = s.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) {
      const [, c, t] = s.shape;
      const b = Math.floor(i / (c * t));
      throw new InputError(
        'bad_value',
        `${what}: non-finite value ${d[i]} at [${b}, ${Math.floor(i / t) % c}, ${i % t}]`,
      );
    }
  }
}

/**
 * Divides each lead of each sample by its range over time. Returns a new signal and the per-lead
 * divisors ([B × C]) used, so callers can undo it.
 * @example
 * const { signal: x } = normaliseEcg(ecg, 'lead-range');
 */
export function normaliseEcg(ecg: Signal, method: EcgNormalisation): { signal: Signal; scale: Float32Array } {
  assertFinite(ecg, 'ecg');
  const [b, c, t] = ecg.shape;
  const out = new Float32Array(ecg.data);
  const scale = new Float32Array(b * c).fill(1);
  if (method === 'none') return { signal: { data: out, shape: ecg.shape }, scale };
  if (method !== 'lead-range') throw unknownMethod(method, ECG_NORMALISATIONS);
  for (let row = 0; row < b * c; row++) {
    const base = row * t;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < t; k++) {
      const v = out[base + k]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const range = hi - lo;
    if (range > 0) {
      scale[row] = range;
      for (let k = 0; k < t; k++) out[base + k] = out[base + k]! / range;
    }
  }
  return { signal: { data: out, shape: ecg.shape }, scale };
}

/** mV → the model's scale. */
export function normaliseVm(vm: Signal, method: VmNormalisation): Signal {
  assertFinite(vm, 'tmp');
  if (method === 'none') return { data: new Float32Array(vm.data), shape: vm.shape };
  if (method !== 'vm-affine') throw unknownMethod(method, VM_NORMALISATIONS);
  const out = new Float32Array(vm.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (vm.data[i]! + VM_OFFSET_MV) / VM_SPAN_MV;
  return { data: out, shape: vm.shape };
}

/** The model's scale → mV (the exact inverse of normaliseVm, up to float32 rounding). */
export function denormaliseVm(vm: Signal, method: VmNormalisation): Signal {
  if (method === 'none') return { data: new Float32Array(vm.data), shape: vm.shape };
  if (method !== 'vm-affine') throw unknownMethod(method, VM_NORMALISATIONS);
  const out = new Float32Array(vm.data.length);
  for (let i = 0; i < out.length; i++) out[i] = vm.data[i]! * VM_SPAN_MV - VM_OFFSET_MV;
  return { data: out, shape: vm.shape };
}

/** A value in mV on the normalised Vm scale (e.g. the 0 mV activation threshold). */
export function normaliseVmValue(mv: number, method: VmNormalisation): number {
  return method === 'vm-affine' ? (mv + VM_OFFSET_MV) / VM_SPAN_MV : mv;
}

/**
 * The paper's Exp II input X̃ = [X₀ 0]: keeps the first `keep` steps of every lead and zeroes the rest.
 * Apply it to the raw ECG, before normalisation, so the lead ranges only see what is kept.
 */
export function limitTime(ecg: Signal, keep = LIMITED_TIME_STEPS): Signal {
  const [b, c, t] = ecg.shape;
  if (!Number.isInteger(keep) || keep < 1 || keep > t) {
    throw new InputError('bad_shape', `limitTime: keep must be an integer in 1..${t}, got ${keep}`);
  }
  const out = new Float32Array(ecg.data);
  for (let row = 0; row < b * c; row++) out.fill(0, row * t + keep, (row + 1) * t);
  return { data: out, shape: ecg.shape };
}

function unknownMethod(method: string, valid: readonly string[]): InputError {
  return new InputError(
    'unknown_normalisation',
    `Unsupported normalisation '${method}'. Expected one of: ${valid.join(', ')}`,
  );
}

/**
 * Whether a model reads only the first 10 ms of the window (the Transformer). Its input is then always
 * prepared as Exp II's — the first 10 steps, normalised by their own range — which is what it was trained
 * on: normalised by the whole window's range, the same 10 steps come out smaller, an input it never saw
 * (and the paper reports the Transformer's Exp I and II as one result).
 */
export function readsFirstStepsOnly(architecture: Architecture): boolean {
  return architecture === 'transformer';
}

/**
 * The ECG as every model reads it: raw mV [B, 12, 500] (or [B, 12, 10], the first 10 ms) → normalised
 * [B, 12, 500]. With `limitedTime` (the paper's Exp II) only the first 10 ms are kept and the rest is
 * zero; a 10-step input is that already, zero-padded to 500. Given the model's `architecture`, a model
 * that reads only the first 10 ms gets them that way whatever `limitedTime` says (readsFirstStepsOnly).
 * The trainer's evaluation, the edge and the SDK all prepare input here, so Exp II means the same thing
 * everywhere.
 * @example
 * const x = prepareEcg(ecg, { limitedTime: true, method: manifest.normalisation.ecg });
 */
export function prepareEcg(
  ecg: Signal,
  options: { limitedTime: boolean; method: EcgNormalisation; architecture?: Architecture },
): Signal {
  const [b, c, t] = ecg.shape;
  let x: Signal;
  if (t === LIMITED_TIME_STEPS) {
    assertFinite(ecg, 'ecg');
    const padded = new Float32Array(b * c * N_STEPS);
    for (let row = 0; row < b * c; row++)
      padded.set(ecg.data.subarray(row * t, (row + 1) * t), row * N_STEPS);
    x = { data: padded, shape: [b, c, N_STEPS] };
  } else if (t === N_STEPS) {
    assertFinite(ecg, 'ecg');
    const limited =
      options.limitedTime ||
      (options.architecture !== undefined && readsFirstStepsOnly(options.architecture));
    x = limited ? limitTime(ecg) : ecg;
  } else {
    throw new InputError(
      'bad_shape',
      `ecg: expected ${N_STEPS} time steps (full) or ${LIMITED_TIME_STEPS} (the first 10 ms), got ${t}`,
    );
  }
  return normaliseEcg(x, options.method).signal;
}
