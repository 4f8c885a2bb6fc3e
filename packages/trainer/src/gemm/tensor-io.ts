/**
 * @module
 * Reading and writing float32 tensor data without copies where the backend allows, for the ops in this
 * directory that compute on typed arrays (conv1d.ts, maxpool.ts): on tfjs-backend-wasm a tensor's values
 * are read in place from the backend's heap and an output is written straight into memory the backend
 * allocated; on tfjs-backend-cpu dataSync returns the backend's own array and a new tensor keeps the
 * array it is given.
 *
 * A view of the wasm heap is valid only until the backend allocates again (the heap may grow and detach
 * it): read every input, finish with the views, then allocate outputs.
 */

import * as tf from '@tensorflow/tfjs-core';

export class TensorIoError extends Error {
  override readonly name = 'TensorIoError';
}

/** The part of tfjs-backend-wasm's BackendWasm used here (as in tfjs-kernels.ts). */
interface WasmBackendView {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** A float32 tensor's values, without a copy on wasm (a heap view) and cpu (the backend's array). */
export function readFloats(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32')
    throw new TensorIoError(`expected a float32 tensor, got ${t.dtype} [${t.shape}]`);
  if (tf.getBackend() === 'wasm') return (tf.backend() as unknown as WasmBackendView).typedArrayFromHeap(t);
  return t.dataSync() as Float32Array;
}

/** A new float32 tensor whose values `fill` writes (on wasm straight into the backend's heap). */
export function outputFloats(shape: number[], fill: (out: Float32Array) => void): tf.Tensor {
  if (tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as WasmBackendView;
    const info = backend.makeOutput(shape, 'float32');
    fill(backend.typedArrayFromHeap(info));
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  fill(values);
  return tf.tensor(values, shape, 'float32');
}
