/**
 * @module
 * The in-distribution check: how far one 12-lead ECG window lies from the ECGs a model was trained on.
 * The models learned from simulated hearts; a real recording whose QRS is wider, whose axis is elsewhere
 * or whose amplitudes are out of the simulator's range gets a reconstruction the model was never taught,
 * and the user must be told. Browser-safe (no Node APIs).
 *
 * Method (fixed, so that a score means the same in the exporter, the SDK, the CLI and the edge):
 * 1. Features of one window (ECG_FEATURE_NAMES, 21 numbers) from core's measureEcg: QRS duration (ms),
 *    the frontal axis as (cos, sin) (no jump at ±180°), log10 of each lead's peak-to-peak QRS amplitude
 *    (+ 0.01 mV), and log10 of (R + 0.02 mV) / (S + 0.02 mV) in V1–V6. Logs because amplitudes and
 *    ratios spread multiplicatively; the small offsets keep a lead with no S (or no QRS) finite.
 * 2. At export, fitDistribution over the training split: each feature's mean and standard deviation, and
 *    the correlation matrix of the standardised features shrunk towards the identity
 *    (R' = (1 − λ) R + λ I, λ = DEFAULT_SHRINKAGE), which keeps it invertible when features move together
 *    (the limb leads' amplitudes do). The manifest stores the mean, the scale, the inverse Cholesky factor
 *    W of R' (lower triangle, row-major) and quantiles of the training windows' own distances.
 * 3. The distance of a window is the Mahalanobis distance d = ‖W·z‖ with z the standardised features.
 *    Three bands, by the training windows' own distances: in range up to their 99th percentile
 *    (stats.unusual); unusual up to their 99.9th (stats.threshold), where at most 1 in 100 training ECGs
 *    is farther; out of range beyond, where fewer than 1 in 1,000 is. The distances of a single Gaussian are a coarse summary of the
 *    simulator's few scenarios, but a window no training ECG resembles in these measures is far from all
 *    of them, which is what the check must catch.
 * 4. The report names the features farthest from the training mean (|z|, in standard deviations), so a
 *    warning can say what is unusual ("QRS amplitude in V1 is 6.2 SD above the training ECGs").
 */

import { type EcgMeasures, measureEcg, PRECORDIAL_NAMES } from './ecg-measures.ts';
import { InputError } from './errors.ts';
import { LEAD_NAMES } from './layout.ts';

/** The feature vector's entries, in order. */
export const ECG_FEATURE_NAMES: readonly string[] = [
  'qrsDurationMs',
  'axisCos',
  'axisSin',
  ...LEAD_NAMES.map((l) => `log10QrsAmplitude${l}`),
  ...PRECORDIAL_NAMES.map((l) => `log10RS${l}`),
];

/** Plain-language names of the features, for warnings. */
const FEATURE_LABELS: Readonly<Record<string, string>> = {
  qrsDurationMs: 'QRS duration',
  axisCos: 'QRS axis',
  axisSin: 'QRS axis',
  ...Object.fromEntries(LEAD_NAMES.map((l) => [`log10QrsAmplitude${l}`, `QRS amplitude in ${l}`])),
  ...Object.fromEntries(PRECORDIAL_NAMES.map((l) => [`log10RS${l}`, `R/S ratio in ${l}`])),
};

const AMPLITUDE_FLOOR_MV = 0.01;
const RS_FLOOR_MV = 0.02;
/** Shrinkage of the correlation matrix towards the identity (step 2). */
export const DEFAULT_SHRINKAGE = 0.05;
/** The training distances' quantile above which a window is unusual (step 3). */
export const UNUSUAL_QUANTILE = 0.99;
/** The training distances' quantile above which a window is out of range (step 3). */
export const OUT_OF_RANGE_QUANTILE = 0.999;
/** Quantiles of the training distances stored with the statistics. */
export const DISTANCE_QUANTILES = [0.5, 0.9, UNUSUAL_QUANTILE, OUT_OF_RANGE_QUANTILE, 1] as const;

/** The training set's feature statistics, as stored in a manifest (`inDistribution`). */
export interface DistributionStats {
  /** ECG_FEATURE_NAMES at the time of fitting; a reader with other features must not score. */
  readonly features: readonly string[];
  /** How many training windows were measured. */
  readonly count: number;
  readonly mean: readonly number[];
  /** Standard deviation per feature (> 0). */
  readonly scale: readonly number[];
  /** Inverse Cholesky factor of the shrunk correlation matrix, k × k row-major (upper triangle zeros). */
  readonly whitening: readonly number[];
  readonly shrinkage: number;
  /** The training windows' distances at DISTANCE_QUANTILES: { q: distance }. */
  readonly quantiles: readonly { readonly q: number; readonly distance: number }[];
  /** The in-range bound: the UNUSUAL_QUANTILE quantile of the training distances. */
  readonly unusual: number;
  /** The out-of-range bound: the OUT_OF_RANGE_QUANTILE quantile of the training distances. */
  readonly threshold: number;
}

/** One feature's distance from the training mean, in training standard deviations. */
export interface FeatureDeviation {
  readonly feature: string;
  readonly label: string;
  /** The feature's value as stored (log10 for amplitudes and ratios, cos/sin for the axis). */
  readonly value: number;
  /** The measure a person reads: "128 ms", "−42°", "2.31 mV", "R/S 0.35". */
  readonly shown: string;
  readonly z: number;
}

/**
 * The outcome of the check for one window:
 * - `in-range` / `unusual` / `out-of-range`: measured and scored against the training statistics (the
 *   bands of step 3);
 * - `not-checked`: the model carries no statistics (exported before the check existed) — unknown, never
 *   "in range";
 * - `not-measurable`: the window has no QRS measureEcg can find (flat, or not a beat).
 */
export interface InDistribution {
  readonly status: 'in-range' | 'unusual' | 'out-of-range' | 'not-checked' | 'not-measurable';
  /** Mahalanobis distance (null unless scored). */
  readonly distance: number | null;
  /** The out-of-range bound it was compared with (null when there are no statistics). */
  readonly threshold: number | null;
  /** Fraction of training windows closer than this one, from the stored quantiles (a lower bound). */
  readonly trainingFractionCloser: number | null;
  /** The three features farthest from the training mean, largest |z| first (empty unless scored). */
  readonly farthest: readonly FeatureDeviation[];
  /** One sentence for a person. */
  readonly message: string;
}

/** The features of one window's measures (step 1). */
export function featuresOfMeasures(m: EcgMeasures): Float64Array {
  const rad = (m.axisDeg * Math.PI) / 180;
  return Float64Array.from([
    m.qrsDurationMs,
    Math.cos(rad),
    Math.sin(rad),
    ...LEAD_NAMES.map((l) => Math.log10(m.qrsAmplitudeMv[l] + AMPLITUDE_FLOOR_MV)),
    ...m.precordial.map((p) => Math.log10((p.rMv + RS_FLOOR_MV) / (p.sMv + RS_FLOOR_MV))),
  ]);
}

/**
 * The feature vector (ECG_FEATURE_NAMES order) of one window: channel-major [12, T] in LEAD_NAMES order,
 * mV, 1 kHz — what the models take. Throws InputError where measureEcg does (bad shape, non-finite
 * values, a flat record).
 * @example
 * const f = ecgFeatures(window); // Float64Array(21)
 */
export function ecgFeatures(leads: Float32Array | Float64Array): Float64Array {
  return featuresOfMeasures(measureEcg(leads));
}

/**
 * Fits the statistics of step 2 to feature vectors (each ECG_FEATURE_NAMES long). Throws InputError for
 * fewer than 2 rows, a row of the wrong length or a non-finite entry (naming the row).
 */
export function fitDistribution(
  rows: readonly Float64Array[],
  options: { readonly shrinkage?: number } = {},
): DistributionStats {
  const k = ECG_FEATURE_NAMES.length;
  const n = rows.length;
  const shrinkage = options.shrinkage ?? DEFAULT_SHRINKAGE;
  if (!(shrinkage > 0 && shrinkage <= 1))
    throw new InputError('bad_value', `shrinkage: expected a number in (0, 1], got ${shrinkage}`);
  if (n < 2) throw new InputError('bad_shape', `distribution: need at least 2 feature rows, got ${n}`);
  rows.forEach((r, i) => {
    if (r.length !== k)
      throw new InputError('bad_shape', `distribution: row ${i} has ${r.length} features, expected ${k}`);
    for (let j = 0; j < k; j++) {
      if (!Number.isFinite(r[j]!))
        throw new InputError('bad_value', `distribution: row ${i}, ${ECG_FEATURE_NAMES[j]} is ${r[j]}`);
    }
  });
  const mean = new Array<number>(k).fill(0);
  for (const r of rows) for (let j = 0; j < k; j++) mean[j]! += r[j]! / n;
  const scale = new Array<number>(k).fill(0);
  for (const r of rows) for (let j = 0; j < k; j++) scale[j]! += (r[j]! - mean[j]!) ** 2 / (n - 1);
  for (let j = 0; j < k; j++) {
    // A feature that never varies in training: any other value is far; a tiny scale says so without ∞.
    scale[j] = Math.max(Math.sqrt(scale[j]!), 1e-6);
  }
  const corr = new Float64Array(k * k);
  const z = new Float64Array(k);
  for (const r of rows) {
    for (let j = 0; j < k; j++) z[j] = (r[j]! - mean[j]!) / scale[j]!;
    for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) corr[a * k + b]! += (z[a]! * z[b]!) / (n - 1);
  }
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < a; b++) {
      corr[a * k + b] = (1 - shrinkage) * corr[a * k + b]!;
      corr[b * k + a] = corr[a * k + b]!;
    }
    corr[a * k + a] = (1 - shrinkage) * corr[a * k + a]! + shrinkage;
  }
  const whitening = inverseLower(cholesky(corr, k), k);
  const partial = {
    features: [...ECG_FEATURE_NAMES],
    count: n,
    mean,
    scale,
    whitening: [...whitening],
    shrinkage,
  };
  const distances = rows.map((r) => mahalanobis(r, partial)).sort((a, b) => a - b);
  const quantiles = DISTANCE_QUANTILES.map((q) => ({ q, distance: quantileOfSorted(distances, q) }));
  return {
    ...partial,
    quantiles,
    unusual: quantileOfSorted(distances, UNUSUAL_QUANTILE),
    threshold: quantileOfSorted(distances, OUT_OF_RANGE_QUANTILE),
  };
}

type Whitened = Pick<DistributionStats, 'features' | 'mean' | 'scale' | 'whitening'>;

/** The Mahalanobis distance of step 3 for one feature vector. */
export function mahalanobis(features: Float64Array, stats: Whitened): number {
  const k = stats.features.length;
  const z = standardise(features, stats);
  let sum = 0;
  for (let a = 0; a < k; a++) {
    let w = 0;
    for (let b = 0; b <= a; b++) w += stats.whitening[a * k + b]! * z[b]!;
    sum += w * w;
  }
  return Math.sqrt(sum);
}

/**
 * Scores one window (channel-major [12, T], mV, 1 kHz) against a model's statistics; `stats` undefined
 * (a manifest without them) gives `not-checked`. Never throws for an unmeasurable window: that is
 * `not-measurable`. Throws InputError only for statistics whose feature list is not this code's.
 * @example
 * const check = checkInDistribution(window, manifest.inDistribution);
 * if (check.status === 'unusual' || check.status === 'out-of-range') console.warn(check.message);
 */
export function checkInDistribution(
  leads: Float32Array | Float64Array,
  stats: DistributionStats | undefined,
): InDistribution {
  if (stats === undefined) {
    return {
      status: 'not-checked',
      distance: null,
      threshold: null,
      trainingFractionCloser: null,
      farthest: [],
      message: 'Not checked: this model version carries no training-set statistics to compare the ECG with.',
    };
  }
  if (stats.features.join() !== ECG_FEATURE_NAMES.join()) {
    throw new InputError(
      'bad_manifest',
      `inDistribution: the statistics describe features [${stats.features.join(', ')}], this code measures [${ECG_FEATURE_NAMES.join(', ')}]`,
    );
  }
  let features: Float64Array;
  try {
    features = ecgFeatures(leads);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return {
      status: 'not-measurable',
      distance: null,
      threshold: stats.threshold,
      trainingFractionCloser: null,
      farthest: [],
      message: `Not measurable: ${e.message}. The reconstruction cannot be compared with the training ECGs.`,
    };
  }
  return scoreFeatures(features, stats);
}

/** Step 3 and 4 for a feature vector already measured. */
export function scoreFeatures(features: Float64Array, stats: DistributionStats): InDistribution {
  const distance = mahalanobis(features, stats);
  const z = standardise(features, stats);
  const farthest = [...z.keys()]
    .sort((a, b) => Math.abs(z[b]!) - Math.abs(z[a]!))
    .slice(0, 3)
    .map(
      (j): FeatureDeviation => ({
        feature: stats.features[j]!,
        label: FEATURE_LABELS[stats.features[j]!] ?? stats.features[j]!,
        value: features[j]!,
        shown: shownValue(stats.features[j]!, features),
        z: z[j]!,
      }),
    );
  let closer = 0;
  for (const { q, distance: d } of stats.quantiles) if (distance > d) closer = Math.max(closer, q);
  const status =
    distance > stats.threshold ? 'out-of-range' : distance > stats.unusual ? 'unusual' : 'in-range';
  const top = farthest[0]!;
  const what = `${top.label} (${top.shown}) is ${Math.abs(top.z).toFixed(1)} SD ${top.z >= 0 ? 'above' : 'below'} the training ECGs' mean`;
  const pct = (q: number) => `${(100 * q).toFixed(q >= 0.999 ? 1 : 0)}%`;
  const message = {
    'in-range': `Within the range of the ECGs this model was trained on (distance ${distance.toFixed(1)}; ${pct(UNUSUAL_QUANTILE)} of them are within ${stats.unusual.toFixed(1)}).`,
    unusual: `Unusual for this model: farther from its training ECGs than ${pct(UNUSUAL_QUANTILE)} of them (distance ${distance.toFixed(1)}, bound ${stats.unusual.toFixed(1)}); ${what}. Check the reconstruction against what you expect.`,
    'out-of-range': `Unlike the ECGs this model was trained on: farther than ${pct(OUT_OF_RANGE_QUANTILE)} of them (distance ${distance.toFixed(1)}, bound ${stats.threshold.toFixed(1)}); ${what}. Do not rely on this reconstruction.`,
  }[status];
  return { status, distance, threshold: stats.threshold, trainingFractionCloser: closer, farthest, message };
}

function shownValue(feature: string, features: Float64Array): string {
  const at = (name: string) => features[ECG_FEATURE_NAMES.indexOf(name)]!;
  if (feature === 'qrsDurationMs') return `${Math.round(at(feature))} ms`;
  if (feature === 'axisCos' || feature === 'axisSin') {
    return `${Math.round((Math.atan2(at('axisSin'), at('axisCos')) * 180) / Math.PI)}°`;
  }
  if (feature.startsWith('log10QrsAmplitude'))
    return `${(10 ** at(feature) - AMPLITUDE_FLOOR_MV).toFixed(2)} mV`;
  return `R/S ≈ ${(10 ** at(feature)).toFixed(2)}`;
}

function standardise(features: Float64Array, stats: Whitened): Float64Array {
  const k = stats.features.length;
  if (features.length !== k)
    throw new InputError('bad_shape', `features: expected ${k} values, got ${features.length}`);
  const z = new Float64Array(k);
  for (let j = 0; j < k; j++) z[j] = (features[j]! - stats.mean[j]!) / stats.scale[j]!;
  return z;
}

/** Lower Cholesky factor of a symmetric positive-definite k × k matrix (row-major). */
function cholesky(a: Float64Array, k: number): Float64Array {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * k + j]!;
      for (let m = 0; m < j; m++) s -= l[i * k + m]! * l[j * k + m]!;
      if (i === j) {
        if (!(s > 0))
          throw new InputError('bad_value', 'distribution: the correlation matrix is not positive definite');
        l[i * k + i] = Math.sqrt(s);
      } else {
        l[i * k + j] = s / l[j * k + j]!;
      }
    }
  }
  return l;
}

/** Inverse of a lower-triangular k × k matrix (row-major), by forward substitution. */
function inverseLower(l: Float64Array, k: number): Float64Array {
  const inv = new Float64Array(k * k);
  for (let c = 0; c < k; c++) {
    inv[c * k + c] = 1 / l[c * k + c]!;
    for (let i = c + 1; i < k; i++) {
      let s = 0;
      for (let m = c; m < i; m++) s += l[i * k + m]! * inv[m * k + c]!;
      inv[i * k + c] = -s / l[i * k + i]!;
    }
  }
  return inv;
}

/** Linear-interpolated quantile of ascending values. */
function quantileOfSorted(sorted: readonly number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}
