/**
 * @module
 * The LSTM recurrence and its backpropagation through time in plain JavaScript loops over typed arrays,
 * accumulating in doubles: the reference the WebAssembly kernels (lstm.ts) are tested against, and the
 * path lstmSequence takes for hidden sizes the kernels do not cover (H not a multiple of 4).
 *
 * Layouts are row-major and channels-last, so every innermost loop walks contiguous memory:
 *   projected, gates, d(projected)  [B, T, 4H]  gate order i, f, g, o (PyTorch's)
 *   hidden, cell                    [B, T, H]
 *   hiddenWeight, d(hiddenWeight)   [H, 4H]
 */

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** 2/(1+e^(−2x)) − 1: one Math.exp, and ±1 rather than NaN when the exponential overflows. */
function tanh(x: number): number {
  return 2 / (1 + Math.exp(-2 * x)) - 1;
}

/** What the forward pass keeps for the backward one. */
export interface Trace {
  readonly batch: number;
  readonly steps: number;
  readonly units: number;
  readonly weight: Float32Array;
  /** Activated gates i, f, g, o per step [B, T, 4H]. */
  readonly gates: Float32Array;
  /** Cell state per step [B, T, H]. */
  readonly cell: Float32Array;
  /** Hidden state per step [B, T, H] — also the op's output. */
  readonly hidden: Float32Array;
}

// The three products below take four rows of a matrix per pass over a contiguous row: a quarter of the
// loads and stores of the accumulator, measured ~2× faster in V8 than one row per pass (eight: no gain).

/** acc += x·M for the row x = v[from, from + rows) and M [rows, n]. */
function addRowTimesMatrix(
  acc: Float64Array,
  v: Float32Array,
  from: number,
  m: Float32Array,
  rows: number,
): void {
  const n = acc.length;
  let k = 0;
  for (; k + 3 < rows; k += 4) {
    const x0 = v[from + k]!;
    const x1 = v[from + k + 1]!;
    const x2 = v[from + k + 2]!;
    const x3 = v[from + k + 3]!;
    const m0 = k * n;
    const m1 = m0 + n;
    const m2 = m1 + n;
    const m3 = m2 + n;
    for (let j = 0; j < n; j++)
      acc[j] = acc[j]! + x0 * m[m0 + j]! + x1 * m[m1 + j]! + x2 * m[m2 + j]! + x3 * m[m3 + j]!;
  }
  for (; k < rows; k++) {
    const x = v[from + k]!;
    const m0 = k * n;
    for (let j = 0; j < n; j++) acc[j] = acc[j]! + x * m[m0 + j]!;
  }
}

/** out = x·Mᵀ for the row x [n] and M [out.length, n]: one dot product per row of M. */
function rowTimesMatrixT(out: Float64Array, x: Float64Array, m: Float32Array): void {
  const n = x.length;
  const rows = out.length;
  let k = 0;
  for (; k + 3 < rows; k += 4) {
    const m0 = k * n;
    const m1 = m0 + n;
    const m2 = m1 + n;
    const m3 = m2 + n;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < n; j++) {
      const d = x[j]!;
      s0 += d * m[m0 + j]!;
      s1 += d * m[m1 + j]!;
      s2 += d * m[m2 + j]!;
      s3 += d * m[m3 + j]!;
    }
    out[k] = s0;
    out[k + 1] = s1;
    out[k + 2] = s2;
    out[k + 3] = s3;
  }
  for (; k < rows; k++) {
    const m0 = k * n;
    let s = 0;
    for (let j = 0; j < n; j++) s += x[j]! * m[m0 + j]!;
    out[k] = s;
  }
}

/**
 * d(W_hh) = Σ over samples and steps t ≥ 1 of h_{t−1}ᵀ·dz_t, taken after the recurrence as one product
 * over all B·T rows: each pass over W's row k gathers four steps of dz, and d(W_hh) (H·4H doubles) stays
 * in cache.
 */
function hiddenWeightGradient(trace: Trace, dz: Float32Array): Float32Array {
  const { batch, steps, units, hidden } = trace;
  const g4 = 4 * units;
  // Summed over B·T terms: doubles keep the rounding of the sum out of the gradient.
  const dw = new Float64Array(units * g4);
  for (let b = 0; b < batch; b++) {
    let t = 1;
    for (; t + 3 < steps; t += 4) {
      const d0 = (b * steps + t) * g4;
      const [d1, d2, d3] = [d0 + g4, d0 + 2 * g4, d0 + 3 * g4];
      const p0 = (b * steps + t - 1) * units;
      const [p1, p2, p3] = [p0 + units, p0 + 2 * units, p0 + 3 * units];
      for (let k = 0; k < units; k++) {
        const h0 = hidden[p0 + k]!;
        const h1 = hidden[p1 + k]!;
        const h2 = hidden[p2 + k]!;
        const h3 = hidden[p3 + k]!;
        const w = k * g4;
        for (let j = 0; j < g4; j++) {
          dw[w + j] = dw[w + j]! + h0 * dz[d0 + j]! + h1 * dz[d1 + j]! + h2 * dz[d2 + j]! + h3 * dz[d3 + j]!;
        }
      }
    }
    for (; t < steps; t++) {
      const d0 = (b * steps + t) * g4;
      const p0 = (b * steps + t - 1) * units;
      for (let k = 0; k < units; k++) {
        const h0 = hidden[p0 + k]!;
        const w = k * g4;
        for (let j = 0; j < g4; j++) dw[w + j] = dw[w + j]! + h0 * dz[d0 + j]!;
      }
    }
  }
  return Float32Array.from(dw);
}

export function forward(
  projected: Float32Array,
  weight: Float32Array,
  batch: number,
  steps: number,
  units: number,
): Trace {
  const g4 = 4 * units;
  const gates = new Float32Array(batch * steps * g4);
  const cell = new Float32Array(batch * steps * units);
  const hidden = new Float32Array(batch * steps * units);
  // One row of pre-activations, accumulated in doubles and reused for every (sample, step).
  const z = new Float64Array(g4);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < steps; t++) {
      const zBase = (b * steps + t) * g4;
      const hBase = (b * steps + t) * units;
      for (let j = 0; j < g4; j++) z[j] = projected[zBase + j]!;
      if (t > 0) addRowTimesMatrix(z, hidden, hBase - units, weight, units);
      for (let u = 0; u < units; u++) {
        const i = sigmoid(z[u]!);
        const f = sigmoid(z[units + u]!);
        const g = tanh(z[2 * units + u]!);
        const o = sigmoid(z[3 * units + u]!);
        gates[zBase + u] = i;
        gates[zBase + units + u] = f;
        gates[zBase + 2 * units + u] = g;
        gates[zBase + 3 * units + u] = o;
        const c = (t > 0 ? f * cell[hBase - units + u]! : 0) + i * g;
        cell[hBase + u] = c;
        hidden[hBase + u] = o * tanh(c);
      }
    }
  }
  return { batch, steps, units, weight, gates, cell, hidden };
}

/** Backpropagation through time: dy [B, T, H] → d(projected) [B, T, 4H] and d(W_hh) [H, 4H]. */
export function backward(
  dy: Float32Array,
  trace: Trace,
): { dProjected: Float32Array; dWeight: Float32Array } {
  const { batch, steps, units, weight, gates, cell } = trace;
  const g4 = 4 * units;
  const dProjected = new Float32Array(batch * steps * g4);
  // Gradients flowing into step t from step t+1 for one sample, and the step's pre-activation gradient.
  const dhNext = new Float64Array(units);
  const dcNext = new Float64Array(units);
  const dz = new Float64Array(g4);
  for (let b = 0; b < batch; b++) {
    dhNext.fill(0);
    dcNext.fill(0);
    for (let t = steps - 1; t >= 0; t--) {
      const zBase = (b * steps + t) * g4;
      const hBase = (b * steps + t) * units;
      for (let u = 0; u < units; u++) {
        const i = gates[zBase + u]!;
        const f = gates[zBase + units + u]!;
        const g = gates[zBase + 2 * units + u]!;
        const o = gates[zBase + 3 * units + u]!;
        const tc = tanh(cell[hBase + u]!);
        const dh = dy[hBase + u]! + dhNext[u]!;
        const dc = dcNext[u]! + dh * o * (1 - tc * tc);
        const cPrev = t > 0 ? cell[hBase - units + u]! : 0;
        dz[u] = dc * g * i * (1 - i);
        dz[units + u] = dc * cPrev * f * (1 - f);
        dz[2 * units + u] = dc * i * (1 - g * g);
        dz[3 * units + u] = dh * tc * o * (1 - o);
        dcNext[u] = dc * f;
      }
      for (let j = 0; j < g4; j++) dProjected[zBase + j] = dz[j]!;
      // h_{−1} = 0 is a constant: at t = 0 nothing flows further back.
      if (t > 0) rowTimesMatrixT(dhNext, dz, weight);
    }
  }
  return { dProjected, dWeight: hiddenWeightGradient(trace, dProjected) };
}
