/**
 * @module
 * Signal layout shared by every package: ECG [B, 12, T] and TMP [B, 75, T] as channel-major Float32Array
 * with an explicit shape, the 10-electrode → 12-lead derivation, and activation and repolarisation times.
 *
 * The real data set stores time-major arrays ((500, 10) electrodes, (500, 75) sites); models and the
 * wire format use channel-major [B, C, T]. Conversions happen here and nowhere else.
 */

import { InputError } from './errors.ts';

export const N_STEPS = 500;
export const N_ELECTRODES = 10;
export const N_LEADS = 12;
export const N_SITES = 75;
/** Sampling interval of every signal, in milliseconds. */
export const STEP_MS = 1;

export const ELECTRODE_NAMES = ['RA', 'LA', 'LL', 'RL', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'] as const;
export const LEAD_NAMES = [
  'I',
  'II',
  'III',
  'aVR',
  'aVL',
  'aVF',
  'V1',
  'V2',
  'V3',
  'V4',
  'V5',
  'V6',
] as const;
export type LeadName = (typeof LEAD_NAMES)[number];
export type ElectrodeName = (typeof ELECTRODE_NAMES)[number];

/** [batch, channels, time]. */
export type Shape3 = readonly [batch: number, channels: number, steps: number];

/** A batch of signals, channel-major: value (b, c, t) at `data[(b * C + c) * T + t]`. */
export interface Signal {
  readonly data: Float32Array;
  readonly shape: Shape3;
}

/**
 * Wraps `data` as a [B, C, T] signal after checking that the sizes agree.
 * @example
 * const ecg = signal(new Float32Array(12 * 500), [1, 12, 500]);
 */
export function signal(data: Float32Array, shape: Shape3, what = 'signal'): Signal {
  const [b, c, t] = shape;
  for (const [name, n] of [
    ['batch', b],
    ['channels', c],
    ['steps', t],
  ] as const) {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new InputError('bad_shape', `${what}: ${name} must be a positive integer, got ${n}`);
    }
  }
  if (data.length !== b * c * t) {
    throw new InputError(
      'bad_shape',
      `${what}: shape [${b}, ${c}, ${t}] needs ${b * c * t} values, got ${data.length}`,
    );
  }
  return { data, shape: [b, c, t] };
}

/** Checks that a signal has `channels` channels (and `steps` steps when given). */
export function expectChannels(s: Signal, channels: number, what: string, steps?: number): void {
  const [, c, t] = s.shape;
  if (c !== channels) throw new InputError('bad_shape', `${what}: expected ${channels} channels, got ${c}`);
  if (steps !== undefined && t !== steps) {
    throw new InputError('bad_shape', `${what}: expected ${steps} time steps, got ${t}`);
  }
}

/**
 * Transposes one time-major record (T rows × C columns, as stored in the .npy files) into channel-major
 * float32 (C × T), written into `out` at `offset`.
 */
export function timeMajorToChannelMajor(
  src: ArrayLike<number>,
  steps: number,
  channels: number,
  out: Float32Array = new Float32Array(steps * channels),
  offset = 0,
): Float32Array {
  if (src.length !== steps * channels) {
    throw new InputError('bad_shape', `expected ${steps}×${channels} values, got ${src.length}`);
  }
  for (let t = 0; t < steps; t++) {
    for (let c = 0; c < channels; c++) out[offset + c * steps + t] = src[t * channels + c]!;
  }
  return out;
}

/**
 * Derives the 12 standard leads from the 10 electrode potentials (RL unused).
 * Input is time-major (T × 10, columns RA, LA, LL, RL, V1…V6, as in `pECGData_*.npy`); output is
 * lead-major (12 × T, in LEAD_NAMES order), written into `out` at `offset`.
 *
 * Wilson terminal W = (RA+LA+LL)/3; I = LA−RA, II = LL−RA, III = LL−LA; aVR = 1.5(RA−W),
 * aVL = 1.5(LA−W), aVF = 1.5(LL−W); Vk = Vk − W. Computed in float64, so I + III = II up to the final
 * rounding to float32.
 * @example
 * const leads = leadsFromElectrodes(pecg.data, 500); // Float32Array(12 * 500)
 */
export function leadsFromElectrodes(
  electrodes: ArrayLike<number>,
  steps: number,
  out: Float32Array = new Float32Array(N_LEADS * steps),
  offset = 0,
): Float32Array {
  if (electrodes.length !== steps * N_ELECTRODES) {
    throw new InputError(
      'bad_shape',
      `electrodes: expected ${steps}×${N_ELECTRODES} values (time-major), got ${electrodes.length}`,
    );
  }
  if (out.length < offset + N_LEADS * steps) {
    throw new InputError('bad_shape', `leads: output buffer too small for ${N_LEADS}×${steps}`);
  }
  for (let t = 0; t < steps; t++) {
    const row = t * N_ELECTRODES;
    const ra = electrodes[row]!;
    const la = electrodes[row + 1]!;
    const ll = electrodes[row + 2]!;
    const w = (ra + la + ll) / 3;
    out[offset + t] = la - ra;
    out[offset + steps + t] = ll - ra;
    out[offset + 2 * steps + t] = ll - la;
    out[offset + 3 * steps + t] = 1.5 * (ra - w);
    out[offset + 4 * steps + t] = 1.5 * (la - w);
    out[offset + 5 * steps + t] = 1.5 * (ll - w);
    for (let k = 0; k < 6; k++) out[offset + (6 + k) * steps + t] = electrodes[row + 4 + k]! - w;
  }
  return out;
}

/** Value returned by activationTimes for a site that never depolarises. */
export const NOT_ACTIVATED = -1;

/** The level whose first upward crossing is a site's activation time (activationTimes' default). */
export const ACTIVATION_THRESHOLD_MV = 0;
/** The level whose last downward crossing is a site's repolarisation time (repolarisationTimes' default). */
export const REPOLARISATION_THRESHOLD_MV = -60;

/**
 * Activation time of every channel of a [B, C, T] TMP signal: the first time step (ms) at which
 * Vm > 0 mV, or NOT_ACTIVATED. `thresholdMv` lets callers use another level (e.g. on a normalised
 * scale, pass the normalised image of 0 mV). Returns Int32Array [B × C]. Throws InputError
 * ('bad_shape') when the data and the shape disagree.
 * @example
 * const at = activationTimes(tmp); // at[b * 75 + site]
 */
export function activationTimes(tmp: Signal, thresholdMv = ACTIVATION_THRESHOLD_MV): Int32Array {
  // A Signal built by hand skips signal()'s check; a short buffer would read as never activated.
  signal(tmp.data, tmp.shape, 'tmp');
  const [b, c, t] = tmp.shape;
  const out = new Int32Array(b * c).fill(NOT_ACTIVATED);
  for (let row = 0; row < b * c; row++) {
    const base = row * t;
    for (let k = 0; k < t; k++) {
      if (tmp.data[base + k]! > thresholdMv) {
        out[row] = k * STEP_MS;
        break;
      }
    }
  }
  return out;
}

/** Value returned by repolarisationTimes for a site that never activates or is still depolarised at the end. */
export const NOT_REPOLARISED = -1;

/**
 * Repolarisation time of every channel of a [B, C, T] TMP signal: the last step k (ms) after the site's
 * activation at which Vm crosses `thresholdMv` downward (Vm[k − 1] ≥ thr > Vm[k]). Returns Int32Array
 * [B × C]; repolarisation − activation is an action-potential duration at that level.
 *
 * Why a fixed level of −60 mV: with rest near −85 mV and a +15…+49 mV peak, −60 mV is about 80 % of the
 * way from the peak back to rest, an APD80 (on the simulator's APs 76–79 %, 5th–95th percentile; the
 * APD90 level, −72…−75 mV, is crossed 6–14 ms later), and it needs no per-trace rest and peak, which a
 * poor reconstruction gets wrong. It lies on the steep part of phase 3, so the crossing is sharply timed;
 * a level on the plateau (0 mV, APD50) would be timed by the slow plateau's drift, and a level near rest
 * (a true APD90) by the after-hyperpolarisation and the slow return to rest, which a trace may never
 * settle below. The *last* downward crossing is taken so that a trace wiggling around the level (noise,
 * a ragged prediction) is timed when it finally stays below.
 *
 * Odd traces: NOT_REPOLARISED (−1) when the site never activates (never above `activationMv`, as in
 * activationTimes), or when it is not back below the level at the last step (the AP outlasts the window,
 * or a second upstroke is under way: the trace ends at or above `thresholdMv`). A NaN sample is neither
 * above nor below the level, so it makes no crossing, and a NaN last step reads as not repolarised.
 * `activationMv` is where activation is looked for, so a caller on a normalised scale passes the images
 * of both levels. Throws InputError ('bad_shape') when the data and the shape disagree.
 * @example
 * const rt = repolarisationTimes(tmp); // rt[b * 75 + site], ms; −1 if not back below −60 mV
 */
export function repolarisationTimes(
  tmp: Signal,
  thresholdMv = REPOLARISATION_THRESHOLD_MV,
  activationMv = ACTIVATION_THRESHOLD_MV,
): Int32Array {
  const [b, c, t] = tmp.shape;
  const at = activationTimes(tmp, activationMv);
  const out = new Int32Array(b * c).fill(NOT_REPOLARISED);
  for (let row = 0; row < b * c; row++) {
    if (at[row] === NOT_ACTIVATED) continue;
    const base = row * t;
    const from = at[row]! / STEP_MS;
    // Not back below the level at the end of the window: still depolarised, whatever happened before.
    if (!(tmp.data[base + t - 1]! < thresholdMv)) continue;
    for (let k = t - 1; k > from; k--) {
      if (tmp.data[base + k - 1]! >= thresholdMv && tmp.data[base + k]! < thresholdMv) {
        out[row] = k * STEP_MS;
        break;
      }
    }
  }
  return out;
}
