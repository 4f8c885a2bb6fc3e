/**
 * @module
 * Float32 tensor data in and out of the ops that compute outside tfjs (our WebAssembly kernels: conv1d,
 * max-pooling, attention, the LSTM recurrence, Adam) with as few copies as the backend allows.
 *
 * On tfjs-backend-wasm a tensor's values live in the backend's own heap: they are read as a view of it,
 * and outputs are tensors the backend allocated, written in place — where dataSync and tf.tensor would
 * each add a copy into a fresh JavaScript array (and fresh pages cost more than the copy on these
 * machines: ~1 s per batch-32 Transformer step for the attention alone). On tfjs-backend-cpu, dataSync
 * returns the backend's own array and a new tensor keeps the array it is given.
 *
 * A view of the wasm heap is valid only until the backend allocates again (a malloc may grow the heap
 * and detach it): read every input and finish with the views, or allocate the outputs first
 * (`runOnCpuMemory` does).
 */

import * as tf from '@tensorflow/tfjs-core';

export class TensorIoError extends Error {
  override readonly name = 'TensorIoError';
}

/** The part of tfjs-backend-wasm's BackendWasm used here (as in gemm/tfjs-kernels.ts). */
interface WasmHeap {
  readonly dataIdMap: { has(dataId: tf.DataId): boolean };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

function wasmHeap(): WasmHeap | null {
  const backend = tf.backend() as unknown as Partial<WasmHeap>;
  return tf.getBackend() === 'wasm' && typeof backend.typedArrayFromHeap === 'function'
    ? (backend as WasmHeap)
    : null;
}

/**
 * A float32 tensor's values without a copy: a view of the wasm heap, or the cpu backend's array. A
 * tensor still held by another backend (not yet moved to this one) is read with dataSync.
 */
export function readFloats(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32')
    throw new TensorIoError(`expected a float32 tensor, got ${t.dtype} [${t.shape}]`);
  const heap = wasmHeap();
  if (heap?.dataIdMap.has(t.dataId)) return heap.typedArrayFromHeap(t);
  return t.dataSync() as Float32Array;
}

/** Copies a float32 tensor's values into `dst` (e.g. a kernel's own memory). */
export function readInto(t: tf.Tensor, dst: Float32Array): void {
  dst.set(readFloats(t));
}

/** A new float32 tensor whose values `fill` writes (on wasm straight into the backend's heap). */
export function outputFloats(shape: readonly number[], fill: (out: Float32Array) => void): tf.Tensor {
  return runOnCpuMemory([], [shape], (_, [out]) => fill(out!))[0]!;
}

/** A new tensor holding a copy of `values` (which may be a view into kernel memory that is reused). */
export function tensorOf(values: Float32Array, shape: readonly number[]): tf.Tensor {
  return outputFloats(shape, (out) => out.set(values));
}

/**
 * Allocates float32 outputs of the given shapes, then calls `fill` with the inputs' and the outputs'
 * arrays (valid only during the call).
 * @example
 * const [y] = runOnCpuMemory([x], [x.shape], ([xs], [ys]) => ys!.set(xs!));
 */
export function runOnCpuMemory(
  inputs: readonly tf.Tensor[],
  outputs: readonly (readonly number[])[],
  fill: (ins: Float32Array[], outs: Float32Array[]) => void,
): tf.Tensor[] {
  const heap = wasmHeap();
  if (heap !== null) {
    const infos = outputs.map((shape) => heap.makeOutput([...shape], 'float32'));
    // Views only after every allocation.
    fill(
      inputs.map(readFloats),
      infos.map((info) => heap.typedArrayFromHeap(info)),
    );
    return infos.map((info) => tf.engine().makeTensorFromTensorInfo(info));
  }
  const outs = outputs.map((shape) => new Float32Array(tf.util.sizeFromShape([...shape])));
  fill(inputs.map(readFloats), outs);
  return outs.map((values, i) => tf.tensor(values, [...outputs[i]!], 'float32'));
}
