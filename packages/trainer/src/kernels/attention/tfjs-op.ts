/**
 * @module
 * The fused attention (kernel.ts) as a TensorFlow.js op with a hand-written gradient, for the backends
 * whose tensors live in CPU memory (cpu, wasm): the forward reads q, k and v, runs the kernel and keeps
 * O and the per-row statistics; the gradient runs the kernel's backward from them. Nothing of size
 * queries × keys exists at any point, in tfjs or in the kernel's memory.
 * On wasm its inputs and outputs are the backend's own heap (../tfjs-heap.ts).
 */

import * as tf from '@tensorflow/tfjs-core';
import { runOnCpuMemory } from '../tfjs-heap.ts';
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

function checkFloat(x: tf.Tensor, name: string): void {
  if (x.dtype !== 'float32') throw new AttentionError(`attention: ${name} is ${x.dtype}, expected float32`);
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
  for (const [name, x] of Object.entries({ q, k, v })) checkFloat(x, name);
  const [batch, queries, heads] = q.shape;
  const shape: AttentionShape = { batch, queries, keys: k.shape[1], heads, causal };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inputs = args.slice(0, 3) as tf.Tensor3D[];
    const save = args[3] as tf.GradSaveFunc;
    const [value, stats] = runOnCpuMemory(
      inputs,
      [q.shape, [2, batch, Math.ceil(heads / 4), queries, 4]],
      (ins, outs) => {
        kernel.forward(ins[0]!, ins[1]!, ins[2]!, shape, { o: outs[0]!, stats: outs[1]! });
      },
    );
    save([...inputs, value!, stats!]);
    return {
      value: value as tf.Tensor3D,
      gradFunc: (dy, saved) => {
        checkFloat(dy as tf.Tensor, 'dO');
        return runOnCpuMemory(
          [...(saved as tf.Tensor[]), dy as tf.Tensor],
          [q.shape, k.shape, v.shape],
          (ins, outs) => {
            const [sq, sk, sv, so, st, dO] = ins;
            kernel.backward(sq!, sk!, sv!, so!, st!, dO!, shape, {
              dq: outs[0]!,
              dk: outs[1]!,
              dv: outs[2]!,
            });
          },
        );
      },
    };
  });
  return op(q, k, v) as tf.Tensor3D;
}
