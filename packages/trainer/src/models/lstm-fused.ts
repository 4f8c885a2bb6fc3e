/**
 * @module
 * The LSTM recurrence as one tfjs op with a hand-written backpropagation through time.
 *
 * Written with stock tfjs ops, each of the 500 steps costs about a dozen kernel launches forward and as
 * many again in the gradient, and at [32, 64] per step the per-op overhead of tfjs — not the arithmetic —
 * set the CNN-LSTM's speed (about one sample per second on wasm). Here the whole recurrence runs as one
 * WebAssembly SIMD kernel forward and one backward (kernels/lstm/: the per-step h·W_hh product with
 * W_hh resident, polynomial sigmoid/tanh, the cell update, the trace kept in the kernel's memory for the
 * backward pass, d(W_hh) as one blocked product after it). On tfjs-wasm the inputs are copied straight
 * from the backend's heap and the outputs written into tensors it allocated; elsewhere they go through
 * dataSync (a readback on webgpu, still far cheaper than 6,000 launches). Hidden sizes that are not a
 * multiple of 4 run the plain-JavaScript version (kernels/lstm/reference.ts), which is also what the
 * kernels are tested against.
 *
 * Only the recurrence is fused: the input projection x·W_ih + b_ih + b_hh for all steps is one matMul
 * the caller hoists out of the loop, and its gradient is left to tfjs.
 *
 * Layouts are row-major and channels-last:
 *   projected, d(projected)  [B, T, 4H]  gate order i, f, g, o (PyTorch's)
 *   hidden                   [B, T, H]
 *   hiddenWeight, d(W_hh)    [H, 4H]
 */

import * as tf from '@tensorflow/tfjs-core';
import { createLstmKernels, type LstmKernels, type LstmShape } from '../kernels/lstm/lstm.ts';
import * as reference from '../kernels/lstm/reference.ts';
import { readInto, tensorOf } from '../kernels/tfjs-heap.ts';
import { webgpuLstmFits, webgpuLstmSequence } from '../webgpu/lstm.ts';

let kernels: LstmKernels | null = null;

/** The recurrence in plain JavaScript (the reference), for H not a multiple of 4. */
function javascriptOp(shape: LstmShape) {
  const { batch, steps, units } = shape;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [p, w] = args as [tf.Tensor3D, tf.Tensor2D];
    // The trace stays in this closure as typed arrays; nothing writes trace.hidden after this, so a
    // backend that keeps the array as the output's storage (cpu) is safe.
    const trace = reference.forward(
      p.dataSync() as Float32Array,
      w.dataSync() as Float32Array,
      batch,
      steps,
      units,
    );
    return {
      value: tf.tensor3d(trace.hidden, [batch, steps, units]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const { dProjected, dWeight } = reference.backward(
          (dy as tf.Tensor).dataSync() as Float32Array,
          trace,
        );
        return [tf.tensor3d(dProjected, [batch, steps, 4 * units]), tf.tensor2d(dWeight, [units, 4 * units])];
      },
    };
  });
}

/** The recurrence on the WebAssembly kernels. */
function kernelOp(shape: LstmShape, run: LstmKernels) {
  const { batch, steps, units } = shape;
  const forward = (p: tf.Tensor, w: tf.Tensor) => {
    const weight = new Float32Array(4 * units * units);
    readInto(w, weight);
    return run.forward(shape, (dst) => readInto(p, dst), weight);
  };
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [p, w, save] = args as [tf.Tensor3D, tf.Tensor2D, tf.GradSaveFunc];
    // Kept in case later forwards take this one's trace slot before its gradient is asked for (two LSTMs
    // in one model, a forward between); sharing, not copying, on cpu and on wasm with our kernels.
    save([p, w]);
    const { trace, hidden } = forward(p, w);
    return {
      value: tensorOf(hidden, [batch, steps, units]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const fill = (dst: Float32Array) => readInto(dy as tf.Tensor, dst);
        const grads = run.backward(trace, fill) ?? run.backward(forward(saved[0]!, saved[1]!).trace, fill)!;
        return [
          tensorOf(grads.dProjected, [batch, steps, 4 * units]),
          tf.tensor2d(grads.dWeight, [units, 4 * units]),
        ];
      },
    };
  });
}

/**
 * Hidden states of an LSTM with zero initial state: projected [B, T, 4H] (x·W_ih + b_ih + b_hh, gates
 * i, f, g, o) and hiddenWeight [H, 4H] → [B, T, H]. Differentiable in both inputs.
 * @example
 * const projected = linear(x, inputWeight, tf.add(inputBias, hiddenBias));
 * const hidden = lstmSequence(projected, hiddenWeight);
 */
export function lstmSequence(projected: tf.Tensor3D, hiddenWeight: tf.Tensor2D): tf.Tensor3D {
  const [batch, steps, gateWidth] = projected.shape;
  const units = hiddenWeight.shape[0];
  if (gateWidth !== 4 * units || hiddenWeight.shape[1] !== 4 * units) {
    throw new Error(
      `lstmSequence: projected [${projected.shape}] and hiddenWeight [${hiddenWeight.shape}] do not fit [B, T, 4H] and [H, 4H]`,
    );
  }
  // tfjs-webgpu cannot read back synchronously in Node, and a readback would stall its queue anyway: on
  // webgpu the recurrence is one WGSL dispatch each way (webgpu/lstm.ts), unless it does not fit there.
  if (tf.getBackend() === 'webgpu' && webgpuLstmFits(units))
    return webgpuLstmSequence(projected, hiddenWeight);
  const shape = { batch, steps, units };
  // ECG_TMP_LSTM=javascript keeps the JS loops (benchmarks measure both in one run).
  if (units % 4 !== 0 || process.env.ECG_TMP_LSTM === 'javascript') {
    return javascriptOp(shape)(projected, hiddenWeight) as tf.Tensor3D;
  }
  kernels ??= createLstmKernels();
  const op = kernelOp(shape, kernels);
  return op(projected, hiddenWeight) as tf.Tensor3D;
}

/**
 * lstmSequence with its own kernels (`slots` trace slots) or, with `'javascript'`, the plain-JavaScript
 * reference — for tests and benchmarks that compare the two or force a slot to be taken.
 */
export function lstmSequenceWith(
  impl: 'javascript' | { slots: number },
): (projected: tf.Tensor3D, hiddenWeight: tf.Tensor2D) => tf.Tensor3D {
  const own = impl === 'javascript' ? null : createLstmKernels(impl.slots);
  return (projected, hiddenWeight) => {
    const [batch, steps] = projected.shape;
    const shape = { batch, steps, units: hiddenWeight.shape[0] };
    return (own === null ? javascriptOp(shape) : kernelOp(shape, own))(
      projected,
      hiddenWeight,
    ) as tf.Tensor3D;
  };
}
