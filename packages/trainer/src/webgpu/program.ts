/**
 * @module
 * Runs our own WGSL compute programs through tfjs-backend-webgpu's program interface, so their inputs and
 * outputs are ordinary tfjs tensors on the device: no readback, no upload, and tfjs's own buffer pool,
 * pipeline cache and command batching apply to them as to any stock kernel.
 *
 * tfjs builds each shader as: its header (a `Uniforms` struct with every input's shape, the program's own
 * uniforms appended; `result` as the output binding; one read-only storage array per input, named as in
 * `variableNames`) + our `getUserCode()` + an entry point that calls `main(index)` with the flat global
 * invocation index (our programs use a flat dispatch). It caches pipelines by `shaderKey` plus the inputs'
 * ranks and dtypes — never their sizes — so anything baked into the WGSL as a constant must be in the key.
 */

import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';

export class WebgpuKernelError extends Error {
  override readonly name = 'WebgpuKernelError';
}

/**
 * True when tfjs runs on tfjs-backend-webgpu and the models are to use our programs there.
 * ECG_TMP_WEBGPU_KERNELS=stock keeps the models on tfjs ops instead (before/after measurements), as
 * ECG_TMP_GEMM=stock does for the wasm GEMM; it is read at every call, so a benchmark can alternate.
 */
export function onWebgpu(): boolean {
  return tf.getBackend() === 'webgpu' && globalThis.process?.env.ECG_TMP_WEBGPU_KERNELS !== 'stock';
}

/** What a program of ours declares; tfjs fills in `pipeline` and may reshape `dispatch`. */
export interface KernelProgram extends WebGPUProgram {
  readonly variableNames: string[];
}

/** Counts of dispatches per program, so tests and benchmarks can prove a fused kernel really ran. */
export const kernelRuns: Record<string, number> = {};

/**
 * Workgroups for `invocations` flat invocations of `size` threads. tfjs spreads a count beyond the
 * device's per-dimension limit over y and z itself; `getGlobalIndex()` undoes that.
 */
export function flatDispatch(invocations: number, size: number): [number, number, number] {
  return [Math.ceil(invocations / size), 1, 1];
}

/**
 * Runs `program` on the current webgpu backend: float32 inputs → one float32 tensor of
 * `program.outputShape`. `uniforms` are the program's own scalar i32 uniforms, in the order of its
 * `uniforms` declaration.
 * @example
 * const o = runProgram(new ForwardProgram(b, lq, lk, h, true), [q, k, v], [lq, lk]);
 */
export function runProgram(program: KernelProgram, inputs: tf.Tensor[], uniforms: number[] = []): tf.Tensor {
  if (tf.getBackend() !== 'webgpu') {
    throw new WebgpuKernelError(
      `${program.shaderKey}: needs the webgpu backend, tfjs runs '${tf.getBackend()}'`,
    );
  }
  for (const [i, t] of inputs.entries()) {
    if (t.dtype !== 'float32') {
      throw new WebgpuKernelError(
        `${program.shaderKey}: input ${program.variableNames[i]} is ${t.dtype}, expected float32`,
      );
    }
  }
  const backend = tf.backend() as unknown as WebGPUBackend;
  const key = program.shaderKey;
  const info = backend.runWebGPUProgram(
    program,
    inputs,
    'float32',
    // One entry per scalar: tfjs lays out an entry of n values with a vecN's alignment.
    uniforms.map((u) => ({ type: 'int32', data: [u] })),
  );
  kernelRuns[key] = (kernelRuns[key] ?? 0) + 1;
  return tf.engine().makeTensorFromTensorInfo(info);
}

/**
 * WGSL helpers shared by our programs. Both activations go through exp of a non-positive-growing argument
 * so that overflow gives ±1 or 0/1, never NaN (WGSL's tanh may be exp(x)/exp(x) on some drivers).
 */
export const ACTIVATIONS = /* wgsl */ `
  fn sigm(x : f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
  fn tanhSafe(x : f32) -> f32 { return 2.0 / (1.0 + exp(-2.0 * x)) - 1.0; }
`;
