/**
 * @module
 * SqueezeNet-1D's max-pooling over time (kernel 3, stride 1, padding 1: the length is kept) as one tfjs
 * op with a hand-written gradient, a WebAssembly SIMD pass each way in the GEMM engine's memory (wat.ts's
 * pool3, pool3Back) — for the cpu and wasm backends. Written with tfjs
 * ops (layers.ts's fallback) it is a pad, two slices and two maximums, and its gradient about twenty more
 * element-wise kernels (each maximum's gradient is a compare, a cast and a multiply per input, then pads
 * and a sum): a pass over the whole activation each. Here each way is a copy in, one pass, a copy out.
 *
 * The gradient goes where tfjs's would: y = max(max(left, x), right) with tfjs's Maximum gradient
 * (the first operand wins ties), so of equal neighbours the earlier step gets it.
 */

import * as tf from '@tensorflow/tfjs-core';
import { outputFloats, readFloats } from '../kernels/tfjs-heap.ts';
import { processGemm } from './gemm.ts';

export class PoolError extends Error {
  override readonly name = 'PoolError';
}

/**
 * x [B, T, C] → [B, T, C]: y[t] = max(x[t − 1], x[t], x[t + 1]) over the steps that exist.
 * @example
 * const pooled = maxPool3Fused(h); // SqueezeNet-1D after its stem and Fire modules 1 and 3
 */
export function maxPool3Fused(x: tf.Tensor3D): tf.Tensor3D {
  const [batch, steps, c] = x.shape;
  if (c % 4 !== 0 || batch * steps === 0) {
    throw new PoolError(
      `maxPool3Fused: x [${x.shape}] needs a channel count that is a multiple of 4 and some steps`,
    );
  }
  const size = batch * steps * c;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor3D, tf.GradSaveFunc];
    const engine = processGemm();
    const [xAt, yAt] = engine.arena([size, size]) as [number, number];
    engine.heap().set(readFloats(input).subarray(0, size), xAt / 4);
    engine.pool3({ x: xAt, y: yAt, items: batch, steps, c });
    // Allocated after the last read: allocating may grow the wasm heap and detach its views.
    const y = outputFloats(input.shape, (out) => out.set(engine.heap().subarray(yAt / 4, yAt / 4 + size)));
    save([input]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xAt, dyAt, dxAt] = engine.arena([size, size, size]) as [number, number, number];
        const heap = engine.heap();
        heap.set(readFloats(saved[0]!).subarray(0, size), xAt / 4);
        heap.set(readFloats(dy as tf.Tensor).subarray(0, size), dyAt / 4);
        engine.pool3Back({ x: xAt, dy: dyAt, dx: dxAt, items: batch, steps, c });
        return [outputFloats(x.shape, (dx) => dx.set(engine.heap().subarray(dxAt / 4, dxAt / 4 + size)))];
      },
    };
  });
  return op(x) as tf.Tensor3D;
}
