/**
 * @module
 * Attention for width-1 heads as three WGSL programs on tfjs-backend-webgpu, with the same contract as
 * models/attention.ts (q [B, Lq, H], k and v [B, Lk, H]; `causal` hides key j from query i when
 * j > i + Lk − Lq) and the same saved state (the output O and the row log-sum-exp L), but no [Lq × Lk]
 * map anywhere, not even a chunk of one: each invocation owns one (sample, row, head) and walks the keys.
 *
 *   forward  one invocation per (b, i, h): an online softmax over the visible keys — the running max m,
 *            the sum l = Σ exp(s − m) and the weighted sum of v are rescaled when m grows, which costs one
 *            exp per key whichever branch runs — writes O and L = m + log l.
 *   dQ       one invocation per (b, i, h): P = exp(q·k − L) recomputed from L, dS = P ∘ (dO·v − D) with
 *            D = dO ∘ O (the row sum of a width-1 head is the product itself), dQ = Σ_j dS·k.
 *   dK, dV   one invocation per (b, j, h), walking the queries that see key j: dV = Σ_i P·dO,
 *            dK = Σ_i dS·q.
 * Threads of a workgroup are neighbouring heads of one row, so every load of q, k, v is coalesced along H.
 * A program has one output in tfjs, so the forward writes [2, B, Lq, H] (O then L) and the key-side
 * backward [2, B, Lk, H] (dK then dV); the halves are sliced off.
 */

import * as tf from '@tensorflow/tfjs-core';
import { flatDispatch, type KernelProgram, runProgram, WebgpuKernelError } from './program.ts';

const WORKGROUP = 64;

/** Key range of query i (forward, dQ) and query range of key j (dK, dV); `offset` = Lk − Lq. */
const RANGES = /* wgsl */ `
  fn lastKey(i : i32) -> i32 {
    if (CAUSAL) { return min(uniforms.lk - 1, i + uniforms.lk - uniforms.lq); }
    return uniforms.lk - 1;
  }
  fn firstQuery(j : i32) -> i32 {
    if (CAUSAL) { return max(0, j - (uniforms.lk - uniforms.lq)); }
    return 0;
  }
`;

abstract class AttentionProgram implements KernelProgram {
  abstract variableNames: string[];
  abstract shaderKey: string;
  readonly outputShape: number[];
  readonly dispatchLayout = { x: [0, 1, 2, 3] };
  dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  readonly uniforms = 'lq : i32, lk : i32, total : i32,';

  constructor(
    outputShape: number[],
    invocations: number,
    protected readonly heads: number,
    protected readonly causal: boolean,
  ) {
    this.outputShape = outputShape;
    this.dispatch = flatDispatch(invocations, WORKGROUP);
  }

  protected header(): string {
    return `
      const H = ${this.heads};
      const CAUSAL = ${this.causal};
      ${RANGES}
    `;
  }

  abstract getUserCode(): string;
}

/** O and L: output [2, B, Lq, H]. */
class ForwardProgram extends AttentionProgram {
  variableNames = ['Q', 'K', 'V'];
  shaderKey: string;
  constructor(b: number, lq: number, h: number, causal: boolean) {
    super([2, b, lq, h], b * lq * h, h, causal);
    this.shaderKey = `ecgAttentionForward_${h}_${causal}`;
  }
  getUserCode(): string {
    return `${this.header()}
      fn main(index : i32) {
        if (index >= uniforms.total) { return; }
        let h = index % H;
        let row = index / H;
        let i = row % uniforms.lq;
        let b = row / uniforms.lq;
        let q = Q[index];
        let base = b * uniforms.lk * H + h;
        var m = -3.0e38;
        var l = 0.0;
        var acc = 0.0;
        for (var j = 0; j <= lastKey(i); j++) {
          let s = q * K[base + j * H];
          let v = V[base + j * H];
          if (s > m) {
            let r = exp(m - s);
            l = l * r + 1.0;
            acc = acc * r + v;
            m = s;
          } else {
            let e = exp(s - m);
            l = l + e;
            acc = acc + e * v;
          }
        }
        result[index] = acc / l;
        result[uniforms.total + index] = m + log(l);
      }
    `;
  }
}

/** dQ: output [B, Lq, H]. */
class QueryGradProgram extends AttentionProgram {
  variableNames = ['Q', 'K', 'V', 'L', 'DO', 'D'];
  shaderKey: string;
  constructor(b: number, lq: number, h: number, causal: boolean) {
    super([b, lq, h], b * lq * h, h, causal);
    this.shaderKey = `ecgAttentionQueryGrad_${h}_${causal}`;
  }
  getUserCode(): string {
    return `${this.header()}
      fn main(index : i32) {
        if (index >= uniforms.total) { return; }
        let h = index % H;
        let row = index / H;
        let i = row % uniforms.lq;
        let b = row / uniforms.lq;
        let q = Q[index];
        let lse = L[index];
        let dout = DO[index];
        let d = D[index];
        let base = b * uniforms.lk * H + h;
        var acc = 0.0;
        for (var j = 0; j <= lastKey(i); j++) {
          let k = K[base + j * H];
          let p = exp(q * k - lse);
          acc = acc + p * (dout * V[base + j * H] - d) * k;
        }
        result[index] = acc;
      }
    `;
  }
}

/** dK and dV: output [2, B, Lk, H]. */
class KeyGradProgram extends AttentionProgram {
  variableNames = ['Q', 'K', 'V', 'L', 'DO', 'D'];
  shaderKey: string;
  constructor(b: number, lk: number, h: number, causal: boolean) {
    super([2, b, lk, h], b * lk * h, h, causal);
    this.shaderKey = `ecgAttentionKeyGrad_${h}_${causal}`;
  }
  getUserCode(): string {
    return `${this.header()}
      fn main(index : i32) {
        if (index >= uniforms.total) { return; }
        let h = index % H;
        let row = index / H;
        let j = row % uniforms.lk;
        let b = row / uniforms.lk;
        let k = K[index];
        let v = V[index];
        let base = b * uniforms.lq * H + h;
        var dk = 0.0;
        var dv = 0.0;
        for (var i = firstQuery(j); i < uniforms.lq; i++) {
          let at = base + i * H;
          let q = Q[at];
          let dout = DO[at];
          let p = exp(q * k - L[at]);
          dv = dv + p * dout;
          dk = dk + p * (dout * v - D[at]) * q;
        }
        result[index] = dk;
        result[uniforms.total + index] = dv;
      }
    `;
  }
}

/** Splits a [2, ...rest] tensor into its two halves of shape rest. */
function halves(x: tf.Tensor): [tf.Tensor3D, tf.Tensor3D] {
  const rest = x.shape.slice(1) as [number, number, number];
  const size = rest[0] * rest[1] * rest[2];
  const flat = tf.reshape(x, [2 * size]);
  return [tf.reshape(tf.slice(flat, 0, size), rest), tf.reshape(tf.slice(flat, size, size), rest)];
}

/** Whether these shapes can run here: causal attention needs every query to see at least one key. */
export function webgpuAttentionFits(q: tf.Tensor3D, k: tf.Tensor3D, causal: boolean): boolean {
  return !causal || k.shape[1] >= q.shape[1];
}

/**
 * softmax(q·kᵀ)·v per width-1 head on tfjs-backend-webgpu, differentiable in q, k and v.
 * @example
 * const o = webgpuAttention(q, k, v, true); // q, k, v [B, 490, 75] on webgpu
 */
export function webgpuAttention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  causal: boolean,
): tf.Tensor3D {
  const [b, lq, h] = q.shape;
  const lk = k.shape[1];
  if (k.shape[0] !== b || k.shape[2] !== h || v.shape.join() !== k.shape.join()) {
    throw new WebgpuKernelError(
      `webgpuAttention: q [${q.shape}], k [${k.shape}] and v [${v.shape}] do not fit [B, Lq, H] and [B, Lk, H]`,
    );
  }
  if (!webgpuAttentionFits(q, k, causal)) {
    throw new WebgpuKernelError(`webgpuAttention: causal attention needs Lk ≥ Lq, got Lq ${lq} and Lk ${lk}`);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qi, ki, vi] = args as tf.Tensor3D[];
    const save = args[3] as tf.GradSaveFunc;
    const [o, lse] = tf.tidy(() =>
      halves(runProgram(new ForwardProgram(b, lq, h, causal), [qi!, ki!, vi!], [lq, lk, b * lq * h])),
    );
    save([qi!, ki!, vi!, o, lse]);
    return {
      value: o,
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const [sq, sk, sv, so, sl] = saved as tf.Tensor3D[];
          const dO = dy as tf.Tensor3D;
          const inputs = [sq!, sk!, sv!, sl!, dO, tf.mul(dO, so!)];
          const dQ = runProgram(new QueryGradProgram(b, lq, h, causal), inputs, [lq, lk, b * lq * h]);
          const kv = runProgram(new KeyGradProgram(b, lk, h, causal), inputs, [lq, lk, b * lk * h]);
          return [dQ, ...halves(kv)];
        }),
    };
  });
  return op(q, k, v) as tf.Tensor3D;
}
