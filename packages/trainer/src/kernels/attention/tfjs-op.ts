/**
 * @module
 * The fused attention (kernel.ts) as a TensorFlow.js op with a hand-written gradient, for the backends
 * whose tensors live in CPU memory (cpu, wasm): the forward reads q, k and v, runs the kernel and keeps
 * O and the per-row statistics; the gradient runs the kernel's backward from them. Nothing of size
 * queries × keys exists at any point, in tfjs or in the kernel's memory.
 */

import * as tf from '@tensorflow/tfjs-core';
import {
  AttentionError,
  type AttentionKernel,
  type AttentionShape,
  createAttentionKernel,
} from './kernel.ts';

let sharedKernel: AttentionKernel | undefined;

/** The process's kernel, on every core, started on first use (its worker joins once it is up). */
export function defaultAttentionKernel(): AttentionKernel {
  sharedKernel ??= createAttentionKernel();
  return sharedKernel;
}

function floats(x: tf.Tensor, name: string): Float32Array {
  if (x.dtype !== 'float32') throw new AttentionError(`attention: ${name} is ${x.dtype}, expected float32`);
  return x.dataSync() as Float32Array;
}

/**
 * softmax(q·kᵀ)·v per width-1 head on the fused kernel: q [B, Lq, H], k and v [B, Lk, H] → [B, Lq, H].
 * @example
 * const o = fusedAttention(q, k, v, true); // decoder self-attention, Lq = Lk = 490
 */
export function fusedAttention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  causal: boolean,
  kernel: AttentionKernel = defaultAttentionKernel(),
): tf.Tensor3D {
  const [batch, queries, heads] = q.shape;
  const shape: AttentionShape = { batch, queries, keys: k.shape[1], heads, causal };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qi, ki, vi] = args as tf.Tensor3D[];
    const save = args[3] as tf.GradSaveFunc;
    const { o, stats } = kernel.forward(floats(qi!, 'q'), floats(ki!, 'k'), floats(vi!, 'v'), shape);
    const value = tf.tensor3d(o, q.shape);
    const kept = tf.tensor1d(stats);
    save([qi!, ki!, vi!, value, kept]);
    return {
      value,
      gradFunc: (dy, saved) => {
        const [sq, sk, sv, so, st] = saved as tf.Tensor[];
        const g = kernel.backward(
          floats(sq!, 'q'),
          floats(sk!, 'k'),
          floats(sv!, 'v'),
          floats(so!, 'o'),
          floats(st!, 'stats'),
          floats(dy as tf.Tensor, 'dO'),
          shape,
        );
        return [tf.tensor3d(g.dq, q.shape), tf.tensor3d(g.dk, k.shape), tf.tensor3d(g.dv, v.shape)];
      },
    };
  });
  return op(q, k, v) as tf.Tensor3D;
}
