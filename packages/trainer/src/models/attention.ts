/**
 * @module
 * Attention for the Transformer's 75 heads of width 1, as one op with a hand-written gradient that never
 * holds a full [queries × keys] map.
 *
 * With width-1 heads, head h's score between query i and key j is the scalar product q[i,h]·k[j,h]
 * (scale 1/√1 = 1). A naive implementation keeps every head's Lq×Lk softmax for the backward pass —
 * 75 × 490 × 490 floats per sample and layer, which is why PyTorch needs ~0.93 GB per sample. Here:
 *   forward   queries are processed in chunks; each chunk's scores, softmax and weighted sum live only
 *             inside that chunk, and the op keeps just the output O and the row log-sum-exp L [B,Lq,H];
 *   backward  recomputes each chunk's probabilities from L (P = exp(S − L)) and accumulates
 *             dV += Pᵀ·dO, dS = P ∘ (dO·vᵀ − D) with D = rowsum(dO ∘ O), dQ = dS·k, dK = dSᵀ·q.
 * The chunk size follows a budget on the largest intermediate ([B, chunk, keys, H] floats), so memory
 * is O(B·H·(Lq + Lk)) plus one chunk, whatever the sequence length.
 *
 * `causal` masks key j for query i when j > i + offset; `offset` = Lk − Lq lets incremental decoding
 * (queries are the newest tokens, keys the whole cached prefix) use the same op.
 *
 * That is the tfjs-op path, kept for the backends without a kernel of their own. On cpu and wasm,
 * `attention` runs the fused WebAssembly SIMD kernel instead (kernels/attention/: one pass per query,
 * four heads per vector, over worker threads — the same maths, ~two orders of magnitude faster);
 * `implementationFor` is the one place that decides.
 */

import * as tf from '@tensorflow/tfjs-core';
import { AttentionError } from '../kernels/attention/kernel.ts';
import { fusedAttention } from '../kernels/attention/tfjs-op.ts';

export { AttentionError };

import { webgpuAttention, webgpuAttentionFits } from '../webgpu/attention.ts';
import { onWebgpu } from '../webgpu/program.ts';

/** Largest intermediate a chunk may hold, in floats (2^23 = 32 MiB). */
export const DEFAULT_CHUNK_FLOATS = 2 ** 23;

const MASKED = -1e30;

export interface AttentionOptions {
  readonly causal: boolean;
  readonly chunkFloats?: number;
}

/** Peak tfjs memory seen inside attention since the last reset — the op's measured footprint. */
export const attentionMemory = {
  peakBytes: 0,
  reset(): void {
    this.peakBytes = 0;
  },
  sample(): void {
    this.peakBytes = Math.max(this.peakBytes, tf.memory().numBytes);
  },
};

interface Chunk {
  readonly from: number;
  readonly rows: number;
  /** Keys visible to any query of the chunk. */
  readonly keys: number;
}

function chunks(
  lq: number,
  lk: number,
  batch: number,
  heads: number,
  causal: boolean,
  budget: number,
): Chunk[] {
  const offset = lk - lq;
  const rows = Math.max(1, Math.min(lq, Math.floor(budget / Math.max(1, batch * lk * heads))));
  const out: Chunk[] = [];
  for (let from = 0; from < lq; from += rows) {
    const n = Math.min(rows, lq - from);
    out.push({ from, rows: n, keys: causal ? Math.min(lk, from + n + offset) : lk });
  }
  return out;
}

/** Additive mask [rows, keys, 1]: 0 where query (from + r) may see key j, MASKED otherwise. */
function causalMask(chunk: Chunk, offset: number): tf.Tensor3D {
  const m = new Float32Array(chunk.rows * chunk.keys);
  for (let r = 0; r < chunk.rows; r++) {
    const last = chunk.from + r + offset;
    for (let j = last + 1; j < chunk.keys; j++) m[r * chunk.keys + j] = MASKED;
  }
  return tf.tensor3d(m, [chunk.rows, chunk.keys, 1]);
}

/** Scores S [B, rows, keys, H] of one chunk, masked. */
function chunkScores(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  chunk: Chunk,
  causal: boolean,
  offset: number,
): tf.Tensor4D {
  const [b, , h] = q.shape;
  const qc = tf.reshape(tf.slice(q, [0, chunk.from, 0], [b, chunk.rows, h]), [b, chunk.rows, 1, h]);
  const kc = tf.reshape(tf.slice(k, [0, 0, 0], [b, chunk.keys, h]), [b, 1, chunk.keys, h]);
  const s = tf.mul(qc, kc) as tf.Tensor4D;
  return causal ? tf.add(s, causalMask(chunk, offset)) : s;
}

function rowsOf(x: tf.Tensor3D, chunk: Chunk): tf.Tensor3D {
  const [b, , h] = x.shape;
  return tf.slice(x, [0, chunk.from, 0], [b, chunk.rows, h]);
}

function keysOf(x: tf.Tensor3D, chunk: Chunk): tf.Tensor3D {
  const [b, , h] = x.shape;
  return tf.slice(x, [0, 0, 0], [b, chunk.keys, h]);
}

/** Pads a [B, keys, H] partial sum with zeros up to Lk keys. */
function padKeys(x: tf.Tensor3D, lk: number): tf.Tensor3D {
  const missing = lk - x.shape[1];
  return missing === 0
    ? x
    : tf.pad(x, [
        [0, 0],
        [0, missing],
        [0, 0],
      ]);
}

function forward(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  causal: boolean,
  budget: number,
): { o: tf.Tensor3D; lse: tf.Tensor3D } {
  const [b, lq, h] = q.shape;
  const lk = k.shape[1];
  const outs: tf.Tensor3D[] = [];
  const lses: tf.Tensor3D[] = [];
  for (const chunk of chunks(lq, lk, b, h, causal, budget)) {
    const [o, lse] = tf.tidy(() => {
      const s = chunkScores(q, k, chunk, causal, lk - lq);
      const m = tf.max(s, 2, true);
      const p = tf.exp(tf.sub(s, m));
      const l = tf.sum(p, 2);
      const vc = tf.reshape(keysOf(v, chunk), [b, 1, chunk.keys, h]);
      const o = tf.div(tf.sum(tf.mul(p, vc), 2), l) as tf.Tensor3D;
      attentionMemory.sample();
      return [o, tf.add(tf.reshape(m, [b, chunk.rows, h]), tf.log(l)) as tf.Tensor3D];
    });
    outs.push(o);
    lses.push(lse);
  }
  const o = outs.length === 1 ? outs[0]! : tf.concat(outs, 1);
  const lse = lses.length === 1 ? lses[0]! : tf.concat(lses, 1);
  if (outs.length > 1) for (const t of [...outs, ...lses]) t.dispose();
  return { o, lse };
}

function backward(
  dO: tf.Tensor3D,
  [q, k, v, o, lse]: tf.Tensor3D[],
  causal: boolean,
  budget: number,
): tf.Tensor3D[] {
  const [b, lq, h] = q!.shape;
  const lk = k!.shape[1];
  const d = tf.mul(dO, o!) as tf.Tensor3D;
  const dQs: tf.Tensor3D[] = [];
  let dK = tf.zerosLike(k!) as tf.Tensor3D;
  let dV = tf.zerosLike(v!) as tf.Tensor3D;
  for (const chunk of chunks(lq, lk, b, h, causal, budget)) {
    const [dQc, dKNext, dVNext] = tf.tidy(() => {
      const s = chunkScores(q!, k!, chunk, causal, lk - lq);
      const p = tf.exp(tf.sub(s, tf.reshape(rowsOf(lse!, chunk), [b, chunk.rows, 1, h])));
      const dOc = tf.reshape(rowsOf(dO, chunk), [b, chunk.rows, 1, h]);
      const kc = tf.reshape(keysOf(k!, chunk), [b, 1, chunk.keys, h]);
      const vc = tf.reshape(keysOf(v!, chunk), [b, 1, chunk.keys, h]);
      const qc = tf.reshape(rowsOf(q!, chunk), [b, chunk.rows, 1, h]);
      const dVpart = tf.sum(tf.mul(p, dOc), 1) as tf.Tensor3D;
      const ds = tf.mul(p, tf.sub(tf.mul(dOc, vc), tf.reshape(rowsOf(d, chunk), [b, chunk.rows, 1, h])));
      const dQc = tf.sum(tf.mul(ds, kc), 2) as tf.Tensor3D;
      const dKpart = tf.sum(tf.mul(ds, qc), 1) as tf.Tensor3D;
      attentionMemory.sample();
      return [
        dQc,
        tf.add(dK, padKeys(dKpart, lk)) as tf.Tensor3D,
        tf.add(dV, padKeys(dVpart, lk)) as tf.Tensor3D,
      ];
    });
    dK.dispose();
    dV.dispose();
    dK = dKNext!;
    dV = dVNext!;
    dQs.push(dQc!);
  }
  d.dispose();
  const dQ = dQs.length === 1 ? dQs[0]! : tf.concat(dQs, 1);
  if (dQs.length > 1) for (const t of dQs) t.dispose();
  return [dQ, dK, dV];
}

/** Which implementation runs attention on a tfjs backend without a GPU program of its own. */
export function implementationFor(backend: string): 'wasm-simd' | 'tfjs-ops' {
  // ECG_TMP_ATTENTION=ops keeps the chunked tfjs ops, to measure before and after in one run.
  if (process.env.ECG_TMP_ATTENTION === 'ops') return 'tfjs-ops';
  return backend === 'cpu' || backend === 'wasm' ? 'wasm-simd' : 'tfjs-ops';
}

function checkShapes(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, causal: boolean): void {
  const fits =
    q.rank === 3 &&
    k.rank === 3 &&
    v.rank === 3 &&
    k.shape[0] === q.shape[0] &&
    k.shape[2] === q.shape[2] &&
    v.shape.every((n, i) => n === k.shape[i]);
  if (!fits) {
    throw new AttentionError(
      `attention: q [${q.shape}], k [${k.shape}] and v [${v.shape}] must be [B, Lq, H], [B, Lk, H] and [B, Lk, H] with the same B and H`,
    );
  }
  if (causal && k.shape[1]! < q.shape[1]!) {
    throw new AttentionError(
      `attention: causal attention needs at least as many keys as queries (queries ${q.shape[1]}, keys ${k.shape[1]})`,
    );
  }
}

/**
 * softmax(q·kᵀ)·v per width-1 head: q [B, Lq, H], k and v [B, Lk, H] → [B, Lq, H].
 * @example
 * const o = attention(q, k, v, { causal: true }); // training self-attention, Lq = Lk = 490
 */
export function attention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  options: AttentionOptions,
): tf.Tensor3D {
  checkShapes(q, k, v, options.causal);
  // On WebGPU three WGSL programs do the same without even a chunk of the map (webgpu/attention.ts).
  if (onWebgpu() && webgpuAttentionFits(q, k, options.causal))
    return webgpuAttention(q, k, v, options.causal);
  if (implementationFor(tf.getBackend()) === 'wasm-simd') {
    const o = fusedAttention(q, k, v, options.causal);
    attentionMemory.sample();
    return o;
  }
  const budget = options.chunkFloats ?? DEFAULT_CHUNK_FLOATS;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qi, ki, vi] = args as tf.Tensor3D[];
    const save = args[3] as tf.GradSaveFunc;
    const { o, lse } = forward(qi!, ki!, vi!, options.causal, budget);
    save([qi!, ki!, vi!, o, lse]);
    return {
      value: o,
      gradFunc: (dy, saved) => backward(dy as tf.Tensor3D, saved as tf.Tensor3D[], options.causal, budget),
    };
  });
  return op(q, k, v) as tf.Tensor3D;
}

/** Reference: the naive attention with the full map, for tests. */
export function naiveAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, causal: boolean): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, lq, h] = q.shape;
    const lk = k.shape[1];
    let s = tf.mul(tf.reshape(q, [b, lq, 1, h]), tf.reshape(k, [b, 1, lk, h]));
    if (causal) s = tf.add(s, causalMask({ from: 0, rows: lq, keys: lk }, lk - lq));
    const p = tf.softmax(tf.transpose(s, [0, 1, 3, 2]));
    return tf.sum(tf.mul(tf.transpose(p, [0, 1, 3, 2]), tf.reshape(v, [b, 1, lk, h])), 2) as tf.Tensor3D;
  });
}
