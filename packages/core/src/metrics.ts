/**
 * @module
 * The paper's five metrics pooled over a whole test set flattened into one vector (targets vs
 * predictions), as the reference work computes them: MAE, MSE, R² (sklearn r2_score on the flat
 * vectors), Pearson r and Spearman ρ (ranks with ties averaged).
 *
 * MAE, MSE, R² and Pearson stream: chunks are merged with Chan's pairwise update in float64, so the
 * result does not depend on how the data is chunked. Spearman needs global ranks, so the accumulator
 * keeps the values (4 bytes each as float32, the signals' own precision) and ranks them at the end
 * with a native sort of packed 64-bit (value, index) keys: ~24 bytes per value pair at peak, i.e.
 * ~1.5 GB for 60 million values, and no comparator callbacks.
 */

import { InputError } from './errors.ts';

export interface Metrics {
  /** Number of (target, prediction) pairs. */
  count: number;
  mae: number;
  mse: number;
  /** 1 − SSE/SST; as sklearn, 1 when SST = SSE = 0 and 0 when only SST = 0. */
  r2: number;
  /** NaN when either vector is constant. */
  pearson: number;
  /** NaN when either vector is constant or when created with `spearman: false`. */
  spearman: number;
}

export const METRIC_NAMES = ['mae', 'mse', 'r2', 'pearson', 'spearman'] as const;

const BLOCK = 1 << 20;

/** Sum with Neumaier compensation: exact enough for ~1e8 terms of very different size. */
class Sum {
  private s = 0;
  private c = 0;
  add(v: number): void {
    const t = this.s + v;
    this.c += Math.abs(this.s) >= Math.abs(v) ? this.s - t + v : v - t + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.c;
  }
}

/** Growable float32 storage in fixed blocks (no re-copying as it grows). */
class Store {
  readonly blocks: Float32Array[] = [];
  length = 0;
  push(values: ArrayLike<number>): void {
    let i = 0;
    while (i < values.length) {
      const offset = this.length % BLOCK;
      if (offset === 0) this.blocks.push(new Float32Array(BLOCK));
      const block = this.blocks[this.blocks.length - 1]!;
      const n = Math.min(BLOCK - offset, values.length - i);
      for (let k = 0; k < n; k++) block[offset + k] = values[i + k]!;
      i += n;
      this.length += n;
    }
  }
}

/**
 * Accumulates (target, prediction) chunks and reports the five metrics over everything added.
 * @example
 * const acc = new MetricsAccumulator();
 * for (const batch of batches) acc.add(batch.target, batch.prediction);
 * const { mae, r2, spearman } = acc.result();
 */
export class MetricsAccumulator {
  private n = 0;
  private meanT = 0;
  private meanP = 0;
  private m2T = 0;
  private m2P = 0;
  private cTP = 0;
  private readonly absErr = new Sum();
  private readonly sqErr = new Sum();
  private readonly targets: Store | undefined;
  private readonly predictions: Store | undefined;

  constructor(options: { spearman?: boolean } = {}) {
    if (options.spearman !== false) {
      this.targets = new Store();
      this.predictions = new Store();
    }
  }

  add(target: ArrayLike<number>, prediction: ArrayLike<number>): void {
    if (target.length !== prediction.length) {
      throw new InputError(
        'bad_shape',
        `metrics: ${target.length} targets but ${prediction.length} predictions`,
      );
    }
    const nb = target.length;
    if (nb === 0) return;
    let sumT = 0;
    let sumP = 0;
    for (let i = 0; i < nb; i++) {
      const t = target[i]!;
      const p = prediction[i]!;
      if (!Number.isFinite(t) || !Number.isFinite(p)) {
        const which = Number.isFinite(t) ? 'prediction' : 'target';
        throw new InputError('bad_value', `metrics: non-finite ${which} at index ${this.n + i}`);
      }
      sumT += t;
      sumP += p;
    }
    const mT = sumT / nb;
    const mP = sumP / nb;
    let m2T = 0;
    let m2P = 0;
    let cTP = 0;
    for (let i = 0; i < nb; i++) {
      const dt = target[i]! - mT;
      const dp = prediction[i]! - mP;
      m2T += dt * dt;
      m2P += dp * dp;
      cTP += dt * dp;
      const e = prediction[i]! - target[i]!;
      this.absErr.add(Math.abs(e));
      this.sqErr.add(e * e);
    }
    const na = this.n;
    const n = na + nb;
    const dT = mT - this.meanT;
    const dP = mP - this.meanP;
    const w = (na * nb) / n;
    this.m2T += m2T + dT * dT * w;
    this.m2P += m2P + dP * dP * w;
    this.cTP += cTP + dT * dP * w;
    this.meanT += (dT * nb) / n;
    this.meanP += (dP * nb) / n;
    this.n = n;
    this.targets?.push(target);
    this.predictions?.push(prediction);
  }

  result(): Metrics {
    const n = this.n;
    if (n === 0) throw new InputError('bad_shape', 'metrics: no values were added');
    const sse = this.sqErr.value;
    const r2 = this.m2T > 0 ? 1 - sse / this.m2T : sse === 0 ? 1 : 0;
    const denom = Math.sqrt(this.m2T * this.m2P);
    return {
      count: n,
      mae: this.absErr.value / n,
      mse: sse / n,
      r2,
      pearson: denom > 0 ? this.cTP / denom : Number.NaN,
      spearman: this.targets && this.predictions ? spearman(this.targets, this.predictions) : Number.NaN,
    };
  }
}

/** Metrics of one pair of equally long vectors. */
export function computeMetrics(target: ArrayLike<number>, prediction: ArrayLike<number>): Metrics {
  const acc = new MetricsAccumulator();
  acc.add(target, prediction);
  return acc.result();
}

/**
 * Sorts (value, index) pairs packed as uint64 — value bits in the high word mapped so unsigned order
 * is float order, index in the low word — with the engine's native typed-array sort.
 */
function sortedKeys(store: Store): Uint32Array {
  const n = store.length;
  const keys = new BigUint64Array(n);
  const words = new Uint32Array(keys.buffer);
  for (let b = 0; b < store.blocks.length; b++) {
    const bits = new Uint32Array(store.blocks[b]!.buffer);
    const base = b * BLOCK;
    const len = Math.min(BLOCK, n - base);
    for (let k = 0; k < len; k++) {
      let v = bits[k]!;
      if (v === 0x80000000) v = 0; // −0 ties with +0
      words[2 * (base + k)] = base + k;
      words[2 * (base + k) + 1] = v & 0x80000000 ? ~v >>> 0 : (v | 0x80000000) >>> 0;
    }
  }
  keys.sort();
  return words;
}

/**
 * Pearson correlation of the ranks. Ranks are centred (1-based rank minus the mean rank (n + 1) / 2)
 * and a run of tied values, sorted positions [start, end), shares its average rank (start + end − n) / 2.
 */
function spearman(targets: Store, predictions: Store): number {
  const n = targets.length;
  if (n > 0xffffffff) throw new InputError('bad_shape', 'metrics: Spearman supports at most 2^32 values');
  const rankT = new Float64Array(n);
  const sTT = new Sum();
  let words = sortedKeys(targets);
  for (let start = 0; start < n; ) {
    const key = words[2 * start + 1]!;
    let end = start + 1;
    while (end < n && words[2 * end + 1] === key) end++;
    const rank = (start + end - n) / 2;
    for (let i = start; i < end; i++) rankT[words[2 * i]!] = rank;
    sTT.add(rank * rank * (end - start));
    start = end;
  }
  words = sortedKeys(predictions);
  const sPP = new Sum();
  const sTP = new Sum();
  for (let start = 0; start < n; ) {
    const key = words[2 * start + 1]!;
    let end = start + 1;
    let dot = 0;
    while (end < n && words[2 * end + 1] === key) end++;
    const rank = (start + end - n) / 2;
    for (let i = start; i < end; i++) dot += rankT[words[2 * i]!]!;
    sPP.add(rank * rank * (end - start));
    sTP.add(rank * dot);
    start = end;
  }
  const denom = Math.sqrt(sTT.value * sPP.value);
  return denom > 0 ? sTP.value / denom : Number.NaN;
}

/** How much a model's output varies from input to input, against how much the truth does. */
export interface Spread {
  /** Mean over positions (site × step) of the predictions' standard deviation across samples. */
  readonly predicted: number;
  /** The same of the targets. */
  readonly truth: number;
  /**
   * predicted ÷ truth: 0 when the model gives one output whatever its input (it draws an average beat,
   * not this heart's), near 1 when its reconstructions differ from each other as much as hearts do; a
   * good model of an uncertain target sits below 1, since a conditional mean varies less than the truth.
   */
  readonly ratio: number;
}

/**
 * Streams whole samples (each `perSample` values, targets and predictions laid out alike) and measures
 * their Spread. Kept apart from the pooled metrics: R² pooled over every value rewards one well-timed
 * average beat, and only this says whether the output depends on the input at all.
 */
export class SpreadAccumulator {
  private n = 0;
  private readonly sums: Float64Array[];

  constructor(readonly perSample: number) {
    if (!(Number.isInteger(perSample) && perSample > 0))
      throw new InputError('bad_value', `spread: perSample must be a positive integer, got ${perSample}`);
    // Σt, Σt², Σp, Σp² per position, in float64 (values of order 1; variances down to ~1e-10 survive).
    this.sums = Array.from({ length: 4 }, () => new Float64Array(perSample));
  }

  add(target: ArrayLike<number>, prediction: ArrayLike<number>): void {
    const per = this.perSample;
    if (target.length !== prediction.length || target.length % per !== 0) {
      throw new InputError(
        'bad_shape',
        `spread: ${target.length} targets and ${prediction.length} predictions are not whole samples of ${per} values`,
      );
    }
    const [st, st2, sp, sp2] = this.sums as [Float64Array, Float64Array, Float64Array, Float64Array];
    for (let at = 0; at < target.length; at += per) {
      for (let i = 0; i < per; i++) {
        const t = target[at + i]!;
        const p = prediction[at + i]!;
        st[i]! += t;
        st2[i]! += t * t;
        sp[i]! += p;
        sp2[i]! += p * p;
      }
      this.n++;
    }
  }

  /** NaN figures with fewer than two samples (no spread to measure). */
  result(): Spread {
    if (this.n < 2) return { predicted: Number.NaN, truth: Number.NaN, ratio: Number.NaN };
    const [st, st2, sp, sp2] = this.sums as [Float64Array, Float64Array, Float64Array, Float64Array];
    const n = this.n;
    const meanStd = (s: Float64Array, s2: Float64Array) => {
      let total = 0;
      for (let i = 0; i < this.perSample; i++) {
        const mean = s[i]! / n;
        total += Math.sqrt(Math.max(0, s2[i]! / n - mean * mean));
      }
      return total / this.perSample;
    };
    const predicted = meanStd(sp, sp2);
    const truth = meanStd(st, st2);
    return { predicted, truth, ratio: truth > 0 ? predicted / truth : Number.NaN };
  }
}
