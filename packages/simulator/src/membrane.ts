/**
 * @module
 * Membrane voltage: a phenomenological action potential shifted to each node's activation time.
 *
 *   Vm_n(t) = rest + S1(t − a_n) + e_n · N(t − a_n) + S2(t − r_n)
 *
 * - S1: upstroke (time constant 0.25 ms) to the peak, a 5 ms spike decay, then a plateau falling
 *   smoothly from `plateauStartMv` to `plateauEndMv` over the first 150 ms;
 * - N: the epicardial spike-and-dome notch (a dip of up to notchMv at 8 ms), weighted by the
 *   transmural coordinate e_n (0 endo … 1 epi);
 * - S2: repolarisation, a C² (quintic) step of height plateauEnd − rest lasting repolMs (∝ gKr^−0.5), then
 *   a small after-hyperpolarisation that recovers toward rest;
 * - r_n = a_n + APD_n with APD_n = apd0 + endo–epi gradient·(1 − e_n) + apex–base gradient·(h_n − ½)
 *   − coupling·(a_n − mean a), clamped to [200, 420] ms; apd0 scales with an IKr-like factor gKr
 *   (APD ∝ gKr^−0.35).
 *
 * Every term is tabulated once per sample on a 1/8 ms grid, and a_n, r_n are rounded to that grid, so
 * Vm at integer milliseconds is an exact table lookup. That makes the ECG a sum of shifted tables
 * (see ecg.ts) without approximating L·Vm.
 */

/** Sub-steps per millisecond of the AP tables and of the rounded activation / repolarisation times. */
export const SUBSTEPS = 8;

export interface ApParams {
  readonly restMv: number;
  readonly peakMv: number;
  readonly plateauStartMv: number;
  readonly plateauEndMv: number;
  /** Depth of the epicardial notch (mV, at e = 1). */
  readonly notchMv: number;
  /** IKr-like conductance scale (1 = nominal). */
  readonly gKr: number;
  /** Nominal APD before regional terms (ms), already scaled by gKr. */
  readonly apd0Ms: number;
  /** Endocardium minus epicardium APD (ms). */
  readonly endoEpiMs: number;
  /** Base minus apex APD (ms). */
  readonly baseApexMs: number;
  /** APD shortening per ms of later activation (electrotonic coupling). */
  readonly coupling: number;
  /** Duration of the repolarisation step (ms). */
  readonly repolMs: number;
  /** After-hyperpolarisation depth below rest (mV). */
  readonly undershootMv: number;
}

export interface ApTables {
  /** S1 and N at τ = i / SUBSTEPS, i = 0 … length−1; zero before τ = 0, equal to their last entry
   * after the end (so the tables stop where the AP stops changing). */
  readonly s1: Float64Array;
  readonly notch: Float64Array;
  /** S2 at u = (i − s2Offset) / SUBSTEPS; zero below u = −s2Offset / SUBSTEPS, last entry after the end. */
  readonly s2: Float64Array;
  readonly s2Offset: number;
}

export const PLATEAU_DECLINE_MS = 150;
const UPSTROKE_MS = 0.25;
const SPIKE_MS = 5;
const NOTCH_MS = 8;
const MIN_APD_MS = 200;
const MAX_APD_MS = 420;

function smoothstep5(x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return x * x * x * (x * (6 * x - 15) + 10);
}

/** Tabulates the AP terms of one sample. */
export function apTables(p: ApParams): ApTables {
  const s1 = new Float64Array((PLATEAU_DECLINE_MS + 10) * SUBSTEPS + 1);
  const notch = new Float64Array(PLATEAU_DECLINE_MS * SUBSTEPS + 1);
  for (let i = 0; i < s1.length; i++) {
    const tau = i / SUBSTEPS;
    const up = 1 - Math.exp(-tau / UPSTROKE_MS);
    const plateau =
      p.plateauEndMv + (p.plateauStartMv - p.plateauEndMv) * (1 - smoothstep5(tau / PLATEAU_DECLINE_MS));
    const v = plateau + (p.peakMv - p.plateauStartMv) * Math.exp(-tau / SPIKE_MS);
    s1[i] = up * (v - p.restMv);
  }
  s1[s1.length - 1] = p.plateauEndMv - p.restMv;
  for (let i = 0; i < notch.length - 1; i++) {
    const tau = i / SUBSTEPS;
    const x = tau / NOTCH_MS;
    notch[i] = -p.notchMv * x * x * Math.exp(2 * (1 - x)); // dip of notchMv at 8 ms
  }
  // Repolarisation: quintic step over [−0.7, +0.3]·repolMs around r; then the after-hyperpolarisation,
  // a compact bump 6.75·y·(1 − y)² (peak at y = 1/3) over 4·repolMs.
  const lead = 0.7 * p.repolMs;
  const ahpMs = 4 * p.repolMs;
  const s2Offset = Math.ceil(lead * SUBSTEPS);
  const s2 = new Float64Array(s2Offset + Math.ceil(ahpMs * SUBSTEPS) + 2);
  const height = p.plateauEndMv - p.restMv;
  for (let i = 0; i < s2.length; i++) {
    const u = (i - s2Offset) / SUBSTEPS;
    const y = Math.min(1, Math.max(0, u / ahpMs));
    s2[i] = -height * smoothstep5((u + lead) / p.repolMs) - p.undershootMv * 6.75 * y * (1 - y) * (1 - y);
  }
  s2[s2.length - 1] = -height;
  return { s1, notch, s2, s2Offset };
}

/** APD of one node (ms) from its transmural (e) and apex–base (h) coordinates and activation time. */
export function nodeApd(
  p: ApParams,
  e: number,
  h: number,
  activationMs: number,
  meanActivationMs: number,
): number {
  const apd =
    p.apd0Ms +
    p.endoEpiMs * (0.5 - e) +
    p.baseApexMs * (h - 0.5) -
    p.coupling * (activationMs - meanActivationMs);
  return Math.min(MAX_APD_MS, Math.max(MIN_APD_MS, apd));
}

/**
 * Vm (mV) of one node at integer time `t` (ms), from its activation and repolarisation times in
 * table sub-steps (`a8`, `r8`; a8 = −1 means never activated: Vm stays at rest).
 */
export function nodeVm(tables: ApTables, rest: number, e: number, a8: number, r8: number, t: number): number {
  if (a8 < 0) return rest;
  const t8 = t * SUBSTEPS;
  const i = t8 - a8;
  if (i < 0) return rest;
  const { s1, notch, s2 } = tables;
  let v = rest + s1[Math.min(i, s1.length - 1)]! + e * notch[Math.min(i, notch.length - 1)]!;
  const j = t8 - r8 + tables.s2Offset;
  if (j >= 0) v += s2[Math.min(j, s2.length - 1)]!;
  return v;
}

/**
 * An AP redraw that keeps `own`'s upstroke — rest, peak, plateau start and notch: all that shapes Vm in
 * the first ~10 ms after activation, and so the early ECG — and takes everything else from `fresh`: the
 * plateau's fall (plateau start − end, applied to own's start), gKr, APD and its gradients, phase 3 and
 * the after-hyperpolarisation.
 */
export function keepUpstroke(own: ApParams, fresh: ApParams): ApParams {
  return {
    ...fresh,
    restMv: own.restMv,
    peakMv: own.peakMv,
    plateauStartMv: own.plateauStartMv,
    plateauEndMv: own.plateauStartMv - (fresh.plateauStartMv - fresh.plateauEndMv),
    notchMv: own.notchMv,
  };
}
