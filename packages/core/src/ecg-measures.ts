/**
 * @module
 * Interval and amplitude measures of one 12-lead beat, the ones an ECG reader checks against adult
 * norms: QRS onset, offset and duration, the frontal QRS axis, per-lead QRS amplitude, R and S in
 * V1–V6 and QT. Browser-safe (no Node APIs): the simulator checks its output with it, and it can tell
 * whether a real ECG lies in the simulator's distribution.
 *
 * Input: one beat, channel-major [12, T] in LEAD_NAMES order (I, II, III, aVR, aVL, aVF, V1–V6), mV,
 * 1 kHz (STEP_MS), holding one QRS complex and, for QT, its T wave.
 *
 * Method (fixed, so that measures compare across data sets):
 * 1. Spatial velocity s(t) = Σ |dx/dt| over the 8 independent leads (I, II, V1–V6), the derivative a
 *    central difference over ±2 ms, smoothed by a 5 ms moving mean.
 * 2. The QRS is the first complex whose s reaches QRS_SEARCH_FRACTION (30%) of the record's largest s
 *    (a wide QRS can be slower than its own T wave; a P wave stays well under 30%); its peak is the
 *    largest s within QRS_PEAK_WINDOW_MS of that crossing. QRS onset / offset: walking out from that
 *    peak, the first sample followed (onset: preceded) by QUIET_MS of s below VELOCITY_THRESHOLD × peak —
 *    a notch inside the QRS does not end it.
 * 3. Amplitudes are relative to each lead's level at QRS onset (the isoelectric point; a real beat's
 *    offset and slow wander cancel). R = the largest positive deflection in the QRS, S = the largest
 *    negative deflection after R, R/S = R / S (Infinity when S = 0). A negative deflection before R
 *    counts as a q (not an S) only while it is smaller than R: a septal q in V6 is no S, but in a QS
 *    complex followed by a small positive wave or ST elevation, the deep negative wave is the S.
 *    QRS amplitude = peak-to-peak over the QRS.
 * 4. Frontal axis from the net QRS areas (∫ over onset…offset) of I and aVF on the hexaxial frame:
 *    lead I projects the frontal vector on 0°, aVF = (√3/2)·(its projection on +90°), so
 *    axis = atan2(2·A_aVF/√3, A_I), in degrees (−180, 180].
 * 5. T end by the tangent method on the RMS of the 8 independent leads (onset-referenced): the line
 *    through the steepest descending point after the T peak meets zero. The T peak is the RMS maximum
 *    from QRS offset + 60 ms on; no T end (NaN) when that peak is under 0.05 mV or the wave has not
 *    fallen below half its peak by the end of the record. QT = T end − QRS onset.
 */

import { InputError } from './errors.ts';
import { LEAD_NAMES, type LeadName, N_LEADS, STEP_MS } from './layout.ts';

/** Fraction of the spatial velocity's QRS peak below which the QRS has not started / has ended. */
export const VELOCITY_THRESHOLD = 0.08;
/** How long the velocity must stay below the threshold to end the QRS (ms). */
export const QUIET_MS = 8;
/** The QRS is the first complex whose spatial velocity reaches this fraction of the record's largest. */
export const QRS_SEARCH_FRACTION = 0.3;
const QRS_PEAK_WINDOW_MS = 60;
const DERIV_HALF_MS = 2;
const SMOOTH_MS = 5;
const T_SEARCH_AFTER_QRS_MS = 60;
const MIN_T_RMS_MV = 0.05;
const MIN_STEPS = 100;
/** Leads I, II, V1…V6: the other four are linear combinations of I and II. */
const INDEPENDENT = [0, 1, 6, 7, 8, 9, 10, 11] as const;
const I = 0;
const AVF = 5;

export const PRECORDIAL_NAMES = ['V1', 'V2', 'V3', 'V4', 'V5', 'V6'] as const;

export interface PrecordialRs {
  readonly lead: (typeof PRECORDIAL_NAMES)[number];
  /** Largest positive QRS deflection (mV, ≥ 0). */
  readonly rMv: number;
  /** Largest negative deflection after R (mV, ≥ 0, as a magnitude). */
  readonly sMv: number;
  /** rMv / sMv (Infinity when sMv = 0). */
  readonly rsRatio: number;
}

export interface EcgMeasures {
  readonly qrsOnsetMs: number;
  readonly qrsOffsetMs: number;
  readonly qrsDurationMs: number;
  /** Frontal QRS axis from net QRS areas of I and aVF (degrees, −180…180). */
  readonly axisDeg: number;
  /** Peak-to-peak QRS amplitude per lead (mV), LEAD_NAMES order. */
  readonly qrsAmplitudeMv: Readonly<Record<LeadName, number>>;
  /** R, S and R/S of V1…V6. */
  readonly precordial: readonly PrecordialRs[];
  /** T end (tangent method on the lead RMS) in ms from the record's start; NaN when not measurable. */
  readonly tEndMs: number;
  /** QRS onset → T end (ms); NaN when T end is not measurable. */
  readonly qtMs: number;
}

/**
 * The spatial velocity of step 1 (mV/ms): Σ |dx/dt| over I, II and V1–V6 of a channel-major [12, T]
 * signal at 1 kHz, a ±2 ms central difference smoothed by a 5 ms moving mean; 0 at the first and last
 * 2 ms. Beat detection (beats/) places QRS onsets on the same curve.
 */
export function spatialVelocity(leads: Float32Array | Float64Array, T: number): Float64Array {
  const raw = new Float64Array(T);
  for (let t = DERIV_HALF_MS; t < T - DERIV_HALF_MS; t++) {
    let s = 0;
    for (const l of INDEPENDENT)
      s += Math.abs(leads[l * T + t + DERIV_HALF_MS]! - leads[l * T + t - DERIV_HALF_MS]!);
    raw[t] = s / (2 * DERIV_HALF_MS * STEP_MS);
  }
  return movingMean(raw, SMOOTH_MS);
}

/**
 * Measures one 12-lead beat (channel-major [12, T], mV, 1 kHz). Throws InputError for a length that
 * is not 12 × T with T ≥ 100, for non-finite values and for a flat record.
 * @example
 * const leads = leadsFromElectrodes(sample.electrodes, 500); // Float32Array(12 * 500)
 * const m = measureEcg(leads); // m.qrsDurationMs, m.axisDeg, m.precordial[0].rsRatio …
 */
export function measureEcg(leads: Float32Array | Float64Array): EcgMeasures {
  if (leads.length % N_LEADS !== 0 || leads.length / N_LEADS < MIN_STEPS) {
    throw new InputError(
      'bad_shape',
      `ecg: expected ${N_LEADS} × T values (channel-major, T ≥ ${MIN_STEPS}), got ${leads.length}`,
    );
  }
  const T = leads.length / N_LEADS;
  for (let i = 0; i < leads.length; i++) {
    if (!Number.isFinite(leads[i]!)) {
      throw new InputError(
        'bad_value',
        `ecg: non-finite value ${leads[i]} at lead ${LEAD_NAMES[Math.floor(i / T)]}, sample ${i % T}`,
      );
    }
  }
  const x = (lead: number, t: number) => leads[lead * T + t]!;

  // 1. Spatial velocity.
  const vel = spatialVelocity(leads, T);
  let top = 0;
  for (let t = 1; t < T; t++) if (vel[t]! > vel[top]!) top = t;
  if (!(vel[top]! > 0)) throw new InputError('bad_value', 'ecg: flat record, no QRS to measure');
  let first = 0;
  while (vel[first]! < QRS_SEARCH_FRACTION * vel[top]!) first++;
  let peak = first;
  for (let t = first; t < Math.min(T, first + QRS_PEAK_WINDOW_MS / STEP_MS); t++)
    if (vel[t]! > vel[peak]!) peak = t;

  // 2. QRS boundaries.
  const thr = VELOCITY_THRESHOLD * vel[peak]!;
  let onset = 0;
  for (let t = peak, quiet = 0; t >= 0; t--) {
    quiet = vel[t]! < thr ? quiet + 1 : 0;
    if (quiet >= QUIET_MS) {
      onset = t + QUIET_MS;
      break;
    }
  }
  let offset = T - 1;
  for (let t = peak, quiet = 0; t < T; t++) {
    quiet = vel[t]! < thr ? quiet + 1 : 0;
    if (quiet >= QUIET_MS) {
      offset = t - QUIET_MS;
      break;
    }
  }

  // 3. Per-lead amplitudes relative to the onset level.
  const base = Array.from({ length: N_LEADS }, (_, l) => x(l, onset));
  const qrsAmplitudeMv = {} as Record<LeadName, number>;
  const area = new Float64Array(N_LEADS);
  LEAD_NAMES.forEach((name, l) => {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let t = onset; t <= offset; t++) {
      const v = x(l, t) - base[l]!;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      area[l]! += v * STEP_MS;
    }
    qrsAmplitudeMv[name] = hi - lo;
  });
  const precordial = PRECORDIAL_NAMES.map((lead, k): PrecordialRs => {
    const l = 6 + k;
    let rAt = onset;
    for (let t = onset; t <= offset; t++) if (x(l, t) > x(l, rAt)) rAt = t;
    const rMv = Math.max(0, x(l, rAt) - base[l]!);
    let before = 0;
    for (let t = onset; t < rAt; t++) before = Math.max(before, base[l]! - x(l, t));
    let sMv = before > rMv ? before : 0;
    for (let t = rAt; t <= offset; t++) sMv = Math.max(sMv, base[l]! - x(l, t));
    return { lead, rMv, sMv, rsRatio: sMv > 0 ? rMv / sMv : Number.POSITIVE_INFINITY };
  });

  // 4. Frontal axis.
  const axisDeg = (Math.atan2((2 / Math.sqrt(3)) * area[AVF]!, area[I]!) * 180) / Math.PI;

  // 5. T end, tangent method on the RMS of the independent leads.
  const rms = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let s = 0;
    for (const l of INDEPENDENT) s += (x(l, t) - base[l]!) ** 2;
    rms[t] = Math.sqrt(s / INDEPENDENT.length);
  }
  const tEndMs = tangentEnd(movingMean(rms, SMOOTH_MS), offset + T_SEARCH_AFTER_QRS_MS / STEP_MS) * STEP_MS;
  const qrsOnsetMs = onset * STEP_MS;
  return {
    qrsOnsetMs,
    qrsOffsetMs: offset * STEP_MS,
    qrsDurationMs: (offset - onset) * STEP_MS,
    axisDeg,
    qrsAmplitudeMv,
    precordial,
    tEndMs,
    qtMs: tEndMs - qrsOnsetMs,
  };
}

/** T end (samples) on a non-negative curve: tangent at the steepest descent after its peak from `from` on. */
function tangentEnd(y: Float64Array, from: number): number {
  const T = y.length;
  if (from >= T - 2) return Number.NaN;
  let top = from;
  for (let t = from; t < T; t++) if (y[t]! > y[top]!) top = t;
  if (y[top]! < MIN_T_RMS_MV) return Number.NaN;
  // Steepest descent between the peak and the next local minimum (an after-wave is not the T wave).
  // The wave must fall below half its peak inside the record, or its end is not measurable.
  let steep = -1;
  let slope = 0;
  let fell = false;
  for (let t = top + 1; t < T - 1; t++) {
    const d = (y[t + 1]! - y[t - 1]!) / 2;
    if (d < slope) {
      slope = d;
      steep = t;
    }
    if (y[t]! < 0.5 * y[top]!) fell = true;
    if (d > 0 && fell) break;
  }
  if (!fell || steep < 0) return Number.NaN;
  return steep - y[steep]! / slope;
}

/** Centred moving mean over `width` samples (shorter at the ends). */
function movingMean(a: Float64Array, width: number): Float64Array {
  const out = new Float64Array(a.length);
  const h = Math.floor(width / 2);
  for (let t = 0; t < a.length; t++) {
    let s = 0;
    let n = 0;
    for (let k = Math.max(0, t - h); k <= Math.min(a.length - 1, t + h); k++) {
      s += a[k]!;
      n++;
    }
    out[t] = s / n;
  }
  return out;
}
