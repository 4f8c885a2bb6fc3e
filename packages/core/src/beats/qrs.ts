/**
 * @module
 * QRS detection on a 12-lead 1 kHz signal (Pan & Tompkins, IEEE TBME 1985, on a multi-lead feature),
 * and QRS onset placed the way measureEcg places it, so a real beat and a simulated window are aligned
 * on the same definition of onset.
 *
 * Detection, in numbered steps:
 * 1. Each of the 8 independent leads (I, II, V1–V6) band-passed (Butterworth, zero phase) to 15–40 Hz,
 *    and to Pan and Tompkins' 5–15 Hz. Why 15–40: the simulator's T waves are narrow (phase 3 lasts
 *    60–100 ms) and some are taller and steeper than their QRS (2.4 mV, about 80 ms at the base, in
 *    V2), so at 5–15 Hz they outweigh it; above 15 Hz a QRS keeps most of its energy, a T wave little.
 * 2. Feature (MWI): Σ over the leads of the squared 5-point derivative, integrated over a centred
 *    150 ms window; the same in 5–15 Hz gives a band ratio MWI₁₅₋₄₀ / MWI₅₋₁₅ per sample.
 * 3. Candidates: the MWI's local maxima, none within 75 ms of either end (the feature's own edge).
 * 4. Pan–Tompkins thresholds: running signal and noise peak levels (SPK, NPK, learnt from the first
 *    2 s), threshold NPK + 0.25 (SPK − NPK), a 200 ms refractory period. Within 360 ms of the last QRS a
 *    candidate is a T wave when its band ratio is under 0.4 × that QRS's (Pan and Tompkins compare
 *    slopes; a sharp simulated T wave has the slope but not the ratio) or when it comes sooner than half
 *    the mean RR (the ventricles are refractory then: an R-on-T beat that early is missed).
 *    A candidate over the threshold that is the T wave (by the band ratio) of an earlier candidate
 *    within 360 ms over 0.3 × the threshold gives that one instead: a weak ectopic QRS with a tall T.
 *    When no QRS came for 1.66 × the mean RR, the largest candidate over 0.3 × the threshold in the gap
 *    that is no T wave — of the QRS before the gap or of an earlier candidate in it — is taken.
 *
 * Onset (qrsOnset): measureEcg's spatial velocity (ecg-measures.ts, step 1) of the leads low-passed at
 * 40 Hz; in a span around the detection, the first complex reaching 30% of the span's largest velocity,
 * its peak within 60 ms, then walking back (at most 150 ms) the first sample preceded by QUIET_MS of
 * velocity under VELOCITY_THRESHOLD × peak — measureEcg's rule.
 */

import { QRS_SEARCH_FRACTION, QUIET_MS, spatialVelocity, VELOCITY_THRESHOLD } from '../ecg-measures.ts';
import { butterworthHighPass, butterworthLowPass, filtfilt } from './filter.ts';

/** Leads I, II, V1…V6 in LEAD_NAMES order: the other four are combinations of I and II. */
const INDEPENDENT = [0, 1, 6, 7, 8, 9, 10, 11] as const;
/** The detection band: a QRS's steepest part, above most of any T wave's energy. */
const QRS_BAND_HZ = [15, 40] as const;
/** Pan and Tompkins' band: where a T wave has most of its energy, and a QRS much less than above it. */
const LOW_BAND_HZ = [5, 15] as const;
/** A candidate whose QRS-band / low-band energy ratio is under this share of the last QRS's is a T wave. */
const T_RATIO_SHARE = 0.4;
const MWI_MS = 150;
const REFRACTORY_MS = 200;
const T_WAVE_MS = 360;
/** Within T_WAVE_MS, a candidate closer than this share of the mean RR is a T wave whatever its shape. */
const T_WAVE_RR = 0.5;
const LEARN_MS = 2000;
const SEARCH_BACK_RR = 1.66;
/** Share of the threshold a candidate must reach in the search-back (Pan and Tompkins: one half). */
const SEARCH_BACK_SHARE = 0.3;
/** Before any RR is known, a gap this long triggers the search-back. */
const FIRST_RR_MS = 1000;
/** Low-pass before the onset's velocity: white noise's velocity grows with bandwidth, a QRS's does not. */
const ONSET_LOWPASS_HZ = 40;
/** measureEcg's: the QRS peak is the largest velocity this long after the first crossing. */
const QRS_PEAK_MS = 60;
/** How far before its peak a QRS onset may lie. */
const ONSET_SEARCH_MS = 150;

/**
 * The detected QRS complexes of a channel-major [12, T] signal at 1 kHz (mV), as sample indices of the
 * feature's peaks (near each QRS's centre), ascending.
 */
export function detectQrs(leads: Float32Array, T: number): number[] {
  // 1–2. Band-passed leads, squared derivative summed, moving-window integration; in both bands.
  const mwi = bandEnergy(leads, T, QRS_BAND_HZ);
  const low = bandEnergy(leads, T, LOW_BAND_HZ);
  const ratio = (t: number) => mwi[t]! / (low[t]! + 1e-12);
  // 3. Candidates: the feature's local maxima (the refractory period is applied as they are judged).
  // Within half an integration window of either end the feature sees only part of its window.
  const h = Math.floor(MWI_MS / 2);
  const candidates: number[] = [];
  for (let t = h; t < T - h; t++) if (mwi[t]! > mwi[t - 1]! && mwi[t]! >= mwi[t + 1]!) candidates.push(t);
  if (candidates.length === 0) return [];

  // 4. Adaptive thresholds with T-wave rejection and search-back.
  let learnTop = 0;
  let learnSum = 0;
  const learn = Math.min(T, LEARN_MS);
  for (let t = 0; t < learn; t++) {
    learnTop = Math.max(learnTop, mwi[t]!);
    learnSum += mwi[t]!;
  }
  let spk = learnTop / 3;
  let npk = learnSum / learn / 2;
  const qrs: number[] = [];
  const rrs: number[] = [];
  const threshold = () => npk + 0.25 * (spk - npk);
  const meanRr = () => (rrs.length === 0 ? FIRST_RR_MS : rrs.reduce((a, b) => a + b, 0) / rrs.length);
  /** Pan–Tompkins' T-wave test, by the energy ratio rather than the slope (see the module's doc). */
  const isTWave = (c: number, prev: number | undefined) =>
    prev !== undefined &&
    c - prev < T_WAVE_MS &&
    (ratio(c) < T_RATIO_SHARE * ratio(prev) || c - prev < T_WAVE_RR * meanRr());

  const accept = (t: number, weight: number) => {
    const last = qrs.at(-1);
    if (last !== undefined) {
      rrs.push(t - last);
      if (rrs.length > 8) rrs.shift();
    }
    qrs.push(t);
    spk = weight * mwi[t]! + (1 - weight) * spk;
  };
  /**
   * The search-back over a gap (from, to): the largest candidate over SEARCH_BACK_SHARE of the threshold
   * that is no T wave — neither of the QRS before the gap nor of an earlier candidate in it (a missed
   * weak QRS must not lose to its own T wave).
   */
  const searchBack = (from: number, to: number) => {
    const floor = SEARCH_BACK_SHARE * threshold();
    const inGap = candidates.filter(
      (c) => c - from >= REFRACTORY_MS && to - c >= REFRACTORY_MS && mwi[c]! > floor && !isTWave(c, from),
    );
    let best: number | undefined;
    for (const c of inGap) {
      const isTOfEarlier = inGap.some(
        (e) => e < c && c - e < T_WAVE_MS && ratio(c) < T_RATIO_SHARE * ratio(e),
      );
      if (!isTOfEarlier && (best === undefined || mwi[c]! > mwi[best]!)) best = c;
    }
    return best;
  };
  /**
   * A QRS under the threshold whose T wave is over it (a weak ectopic beat with a tall T): an earlier
   * candidate within T_WAVE_MS of `c`, over SEARCH_BACK_SHARE of the threshold, of which `c` is the T wave.
   */
  const missedBefore = (c: number, prev: number | undefined) => {
    let best: number | undefined;
    for (const e of candidates) {
      if (e >= c - REFRACTORY_MS) break;
      if (c - e >= T_WAVE_MS || (prev !== undefined && e - prev < REFRACTORY_MS) || isTWave(e, prev))
        continue;
      if (mwi[e]! > SEARCH_BACK_SHARE * threshold() && ratio(c) < T_RATIO_SHARE * ratio(e)) {
        if (best === undefined || mwi[e]! > mwi[best]!) best = e;
      }
    }
    return best;
  };
  for (const c of candidates) {
    const last = qrs.at(-1);
    if (last !== undefined && c - last > SEARCH_BACK_RR * meanRr()) {
      const missed = searchBack(last, c);
      if (missed !== undefined) accept(missed, 0.25);
    }
    const prev = qrs.at(-1);
    if (prev !== undefined && c - prev < REFRACTORY_MS) continue;
    if (mwi[c]! > threshold()) {
      if (isTWave(c, prev)) {
        npk = 0.125 * mwi[c]! + 0.875 * npk;
        continue;
      }
      const missed = missedBefore(c, prev);
      if (missed !== undefined) {
        accept(missed, 0.25);
        npk = 0.125 * mwi[c]! + 0.875 * npk;
        continue;
      }
      accept(c, 0.125);
    } else npk = 0.125 * mwi[c]! + 0.875 * npk;
  }
  const last = qrs.at(-1);
  if (last !== undefined && T - last > SEARCH_BACK_RR * meanRr()) {
    const missed = searchBack(last, T + REFRACTORY_MS);
    if (missed !== undefined) accept(missed, 0.25);
  }
  return qrs;
}

/**
 * The curve QRS onsets are placed on: measureEcg's spatial velocity of a channel-major [12, T] 1 kHz
 * signal whose leads were first low-passed at 40 Hz (Butterworth, zero phase) — without it, 20 µV of
 * white noise at 1 kHz reaches the 8% threshold.
 */
export function onsetVelocity(leads: Float32Array, T: number): Float64Array {
  const smooth = new Float32Array(leads.length);
  const low = [butterworthLowPass(ONSET_LOWPASS_HZ, 1000)];
  for (const l of INDEPENDENT) smooth.set(filtfilt(leads.subarray(l * T, (l + 1) * T), low, 1000), l * T);
  return spatialVelocity(smooth, T);
}

/** The moving-window integral of Σ over the independent leads of the squared 5-point derivative in a band. */
function bandEnergy(leads: Float32Array, T: number, [lo, hi]: readonly [number, number]): Float64Array {
  const band = [butterworthHighPass(lo, 1000), butterworthLowPass(hi, 1000)];
  const energy = new Float64Array(T);
  for (const l of INDEPENDENT) {
    const x = filtfilt(leads.subarray(l * T, (l + 1) * T), band, 1000);
    for (let t = 2; t < T - 2; t++) {
      const d = (2 * x[t + 1]! + x[t + 2]! - x[t - 2]! - 2 * x[t - 1]!) / 8;
      energy[t]! += d * d;
    }
  }
  const mwi = new Float64Array(T);
  const h = Math.floor(MWI_MS / 2);
  let sum = 0;
  for (let t = 0; t < T + h; t++) {
    if (t < T) sum += energy[t]!;
    if (t - MWI_MS >= 0) sum -= energy[t - MWI_MS]!;
    if (t - h >= 0 && t - h < T) mwi[t - h] = sum / MWI_MS;
  }
  return mwi;
}

/**
 * Where the QRS in `velocity[from, to)` starts and peaks (sample indices), by measureEcg's rule: the
 * first complex reaching QRS_SEARCH_FRACTION of the span's largest velocity, its peak within 60 ms, then
 * walking back (at most 150 ms) the first sample preceded by QUIET_MS under VELOCITY_THRESHOLD × peak.
 * Undefined when the span is flat or no quiet run precedes the peak.
 */
export function qrsOnset(
  velocity: Float64Array,
  from: number,
  to: number,
): { readonly onset: number; readonly peak: number } | undefined {
  const a = Math.max(0, from);
  const b = Math.min(velocity.length, to);
  if (b <= a) return undefined;
  let top = a;
  for (let t = a; t < b; t++) if (velocity[t]! > velocity[top]!) top = t;
  if (!(velocity[top]! > 0)) return undefined;
  let first = a;
  while (velocity[first]! < QRS_SEARCH_FRACTION * velocity[top]!) first++;
  let peak = first;
  for (let t = first; t < Math.min(b, first + QRS_PEAK_MS); t++) if (velocity[t]! > velocity[peak]!) peak = t;
  const thr = VELOCITY_THRESHOLD * velocity[peak]!;
  for (let t = peak, quiet = 0; t >= Math.max(0, peak - ONSET_SEARCH_MS); t--) {
    quiet = velocity[t]! < thr ? quiet + 1 : 0;
    if (quiet >= QUIET_MS) return { onset: t + QUIET_MS, peak };
  }
  return undefined;
}
