/**
 * @module
 * ECG(t) = L · Vm(t), evaluated without forming Vm for all nodes.
 *
 * Vm_n(t) − rest = S1(8t − a8_n) + e_n·N(8t − a8_n) + S2(8t − r8_n + off) (membrane.ts), and every row of L
 * sums to zero, so
 *   ECG(t) = Σ_k A[k]·S1(8t − k) + Σ_k B[k]·N(8t − k) + Σ_k C[k]·S2(8t − k + off),
 * with A[k] = Σ_{n: a8_n = k} L[:, n], B[k] = Σ_{n: a8_n = k} e_n L[:, n], C[k] = Σ_{n: r8_n = k} L[:, n].
 * Nodes sharing a rounded activation (or repolarisation) time share one bin, and each table stops where
 * the AP stops changing: after that a bin adds a constant, carried by a running sum. This is exact
 * (the same numbers as L·Vm up to rounding order) and about 10× cheaper than the dense 10×8033×500 product;
 * `electrodesDense` is the dense product, kept as the reference the tests compare against.
 */

import { N_ELECTRODES } from '@ecg-tmp/core';
import { type ApTables, SUBSTEPS } from './membrane.ts';

/** Scratch buffers reused across samples by one simulator instance. */
export interface EcgWorkspace {
  readonly binsA: Float64Array;
  readonly binsB: Float64Array;
  readonly binsC: Float64Array;
  readonly tail: Float64Array;
}

export function ecgWorkspace(steps: number, maxOffset = 4096): EcgWorkspace {
  const bins = (steps * SUBSTEPS + maxOffset + 1) * N_ELECTRODES;
  return {
    binsA: new Float64Array(bins),
    binsB: new Float64Array(bins),
    binsC: new Float64Array(bins),
    tail: new Float64Array((steps + 1) * N_ELECTRODES),
  };
}

/**
 * Electrode potentials (steps × 10, time-major, mV).
 * `leadT` is L transposed (node-major: leadT[n*10 + e]); `a8`/`r8` are activation / repolarisation
 * times in table sub-steps (a8 < 0: never activated); `e` the transmural coordinate per node.
 */
export function electrodesFromTables(
  leadT: Float64Array,
  a8: Int32Array,
  r8: Int32Array,
  e: Float64Array,
  tables: ApTables,
  steps: number,
  ws: EcgWorkspace,
  out: Float64Array = new Float64Array(steps * N_ELECTRODES),
): Float64Array {
  const E = N_ELECTRODES;
  const limit = steps * SUBSTEPS; // bins at or beyond this never matter for S1 / N
  const { binsA, binsB, binsC } = ws;
  const cLimit = limit + tables.s2Offset;
  if ((cLimit + 1) * E > binsC.length)
    throw new Error('ecg workspace too small for the repolarisation table');
  binsA.fill(0, 0, limit * E);
  binsB.fill(0, 0, limit * E);
  binsC.fill(0, 0, cLimit * E);
  let aMax = -1;
  let cMax = -1;
  for (let n = 0; n < a8.length; n++) {
    const a = a8[n]!;
    if (a < 0 || a >= limit) continue;
    const en = e[n]!;
    const la = a * E;
    const ln = n * E;
    for (let k = 0; k < E; k++) {
      const w = leadT[ln + k]!;
      binsA[la + k]! += w;
      binsB[la + k]! += en * w;
    }
    if (a > aMax) aMax = a;
    const r = r8[n]!;
    if (r < cLimit) {
      const lc = r * E;
      for (let k = 0; k < E; k++) binsC[lc + k]! += leadT[ln + k]!;
      if (r > cMax) cMax = r;
    }
  }
  out.fill(0);
  shiftedSum(binsA, aMax, tables.s1, 0, steps, ws.tail, out);
  shiftedSum(binsB, aMax, tables.notch, 0, steps, ws.tail, out);
  shiftedSum(binsC, cMax, tables.s2, tables.s2Offset, steps, ws.tail, out);
  return out;
}

/**
 * out[t, :] += Σ_{k ≤ kMax} bins[k, :] · table[8t − k + offset], where the table is 0 below index 0 and
 * equal to its last entry beyond its end.
 */
function shiftedSum(
  bins: Float64Array,
  kMax: number,
  table: Float64Array,
  offset: number,
  steps: number,
  tail: Float64Array,
  out: Float64Array,
): void {
  const E = N_ELECTRODES;
  const last = table.length - 1;
  const tailValue = table[last]!;
  tail.fill(0);
  for (let k = 0; k <= kMax; k++) {
    const b = k * E;
    const w0 = bins[b]!;
    const w1 = bins[b + 1]!;
    const w2 = bins[b + 2]!;
    const w3 = bins[b + 3]!;
    const w4 = bins[b + 4]!;
    const w5 = bins[b + 5]!;
    const w6 = bins[b + 6]!;
    const w7 = bins[b + 7]!;
    const w8 = bins[b + 8]!;
    const w9 = bins[b + 9]!;
    if (
      w0 === 0 &&
      w1 === 0 &&
      w2 === 0 &&
      w3 === 0 &&
      w4 === 0 &&
      w5 === 0 &&
      w6 === 0 &&
      w7 === 0 &&
      w8 === 0 &&
      w9 === 0
    ) {
      continue; // empty bin
    }
    // Table index i = 8t − k + offset: t from the first i ≥ 0 to the first i ≥ last.
    const t0 = Math.max(0, Math.ceil((k - offset) / SUBSTEPS));
    const t1 = Math.min(steps, Math.max(t0, Math.ceil((k - offset + last) / SUBSTEPS)));
    let i = SUBSTEPS * t0 - k + offset;
    for (let t = t0; t < t1; t++, i += SUBSTEPS) {
      const s = table[i]!;
      const o = t * E;
      out[o]! += w0 * s;
      out[o + 1]! += w1 * s;
      out[o + 2]! += w2 * s;
      out[o + 3]! += w3 * s;
      out[o + 4]! += w4 * s;
      out[o + 5]! += w5 * s;
      out[o + 6]! += w6 * s;
      out[o + 7]! += w7 * s;
      out[o + 8]! += w8 * s;
      out[o + 9]! += w9 * s;
    }
    if (t1 < steps && tailValue !== 0) {
      const o = t1 * E;
      for (let j = 0; j < E; j++) tail[o + j]! += bins[b + j]!;
    }
  }
  if (tailValue === 0) return;
  for (let t = 1; t < steps; t++) {
    for (let j = 0; j < E; j++) tail[t * E + j]! += tail[(t - 1) * E + j]!;
  }
  for (let i = 0; i < steps * E; i++) out[i]! += tailValue * tail[i]!;
}

/** The dense product ECG = L · Vm: `vmNodes` time-major (steps × nodes), `lead` row-major (10 × nodes). */
export function electrodesDense(lead: Float64Array, vmNodes: Float64Array, steps: number): Float64Array {
  const nodes = vmNodes.length / steps;
  const out = new Float64Array(steps * N_ELECTRODES);
  for (let t = 0; t < steps; t++) {
    for (let e = 0; e < N_ELECTRODES; e++) {
      let s = 0;
      for (let n = 0; n < nodes; n++) s += lead[e * nodes + n]! * vmNodes[t * nodes + n]!;
      out[t * N_ELECTRODES + e] = s;
    }
  }
  return out;
}
