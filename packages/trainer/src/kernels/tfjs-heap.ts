/**
 * @module
 * Moves float32 tensor data between tfjs and our WebAssembly kernels' memories without a readback on
 * tfjs-backend-wasm: its tensors live in its own heap, so a copy from a view of that heap replaces
 * dataSync (which allocates a fresh JavaScript array each time — and fresh pages cost more than the copy
 * on these machines), and outputs are written into tensors the backend allocated. Other backends go
 * through dataSync and tf.tensor.
 */

import * as tf from '@tensorflow/tfjs-core';

/** The part of tfjs-backend-wasm's BackendWasm used here. */
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

/** Copies a float32 tensor's values into `dst`: from the wasm heap when they live there, else dataSync. */
export function readInto(x: tf.Tensor, dst: Float32Array): void {
  const heap = wasmHeap();
  if (heap?.dataIdMap.has(x.dataId)) dst.set(heap.typedArrayFromHeap(x));
  else dst.set(x.dataSync() as Float32Array);
}

/** A new tensor holding a copy of `values` (which may be a view into kernel memory that is reused). */
export function tensorOf(values: Float32Array, shape: readonly number[]): tf.Tensor {
  const heap = wasmHeap();
  if (heap === null) return tf.tensor(values.slice(), [...shape], 'float32');
  const info = heap.makeOutput([...shape], 'float32');
  heap.typedArrayFromHeap(info).set(values);
  return tf.engine().makeTensorFromTensorInfo(info);
}
