/**
 * @module
 * Tensor I/O for ops that compute on the CPU outside tfjs (the fused attention, LayerNorm): on the wasm
 * backend the inputs are views of the backend's heap and the outputs are tensors the backend allocated,
 * written in place (as gemm/tfjs-kernels.ts does); elsewhere (cpu) dataSync and tf.tensor. On wasm,
 * dataSync and tf.tensor would each add a copy into a fresh JavaScript array — ~1 s per batch-32
 * Transformer step for the attention alone. Inputs made on another backend are already in the heap: the
 * engine moves an op's inputs to the running backend before the op sees them. (kernels/tfjs-heap.ts,
 * written at the same time for the LSTM and Adam, copies into a destination instead of lending views;
 * the two should become one.)
 */

import * as tf from '@tensorflow/tfjs-core';

/** The part of tfjs-backend-wasm's BackendWasm used here. */
interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * Allocates float32 outputs of the given shapes and calls `fill` with the inputs' and the outputs'
 * arrays (valid only during the call: on wasm they are views of a heap that later allocations may move).
 * @example
 * const [y] = runOnCpuMemory([x], [x.shape], ([xs], [ys]) => ys!.set(xs!));
 */
export function runOnCpuMemory(
  inputs: tf.Tensor[],
  outputs: number[][],
  fill: (ins: Float32Array[], outs: Float32Array[]) => void,
): tf.Tensor[] {
  if (tf.getBackend() === 'wasm') {
    const heap = tf.backend() as unknown as WasmHeap;
    const infos = outputs.map((shape) => heap.makeOutput(shape, 'float32'));
    // Views only after every allocation: a malloc may grow the heap and detach earlier views.
    fill(
      inputs.map((x) => heap.typedArrayFromHeap(x)),
      infos.map((info) => heap.typedArrayFromHeap(info)),
    );
    return infos.map((info) => tf.engine().makeTensorFromTensorInfo(info));
  }
  const outs = outputs.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)));
  fill(
    inputs.map((x) => x.dataSync() as Float32Array),
    outs,
  );
  return outs.map((values, i) => tf.tensor(values, outputs[i]!));
}
