/**
 * @module
 * Starts one TensorFlow.js backend by name and proves it is the one running. tfjs quietly falls back to
 * `cpu` when a backend fails to initialise; a trainer that reports WebGPU numbers while running on the
 * CPU is worse than one that stops, so every mismatch is an error here.
 *
 *   webgpu  tfjs-backend-webgpu on Dawn (npm `webgpu`): SwiftShader Vulkan on CPU machines
 *           (VK_ICD_FILENAMES is pointed at Chromium's SwiftShader ICD when unset), NVIDIA through
 *           the GPU machine's Vulkan loader.
 *   wasm    tfjs-backend-wasm (SIMD build; Node runs it single-threaded), with its matrix multiplies
 *           (BatchMatMul, _FusedMatMul — every conv, linear layer and their gradients here) replaced
 *           by our WebAssembly SIMD GEMM over worker threads (gemm/). ECG_TMP_GEMM=stock keeps
 *           tfjs's own kernels (for before/after measurements); ECG_TMP_GEMM_THREADS=n sets the threads.
 *   cpu     tfjs-backend-cpu (plain JavaScript).
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients and its ESM gradient files cannot load in Node (directory
// imports); the union package's Node bundle registers them all against the same tfjs-core on import.
import '@tensorflow/tfjs';
import { installGemmKernels } from './gemm/tfjs-kernels.ts';

export const BACKENDS = ['webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export class BackendError extends Error {
  override readonly name = 'BackendError';
}

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export function isBackendName(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

/** What the running backend is, for logs and benchmark records. */
export interface BackendInfo {
  readonly name: BackendName;
  /**
   * e.g. 'SwiftShader Device (Subzero)' or 'NVIDIA H100 80GB HBM3'; the CPU backends say 'cpu', wasm
   * with our GEMM 'cpu (wasm SIMD GEMM, 2 threads)'.
   */
  readonly device: string;
}

let started: BackendInfo | undefined;

async function registerWebgpu(): Promise<string> {
  if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) {
    throw new BackendError(
      'webgpu: Dawn found no adapter. On a CPU machine install SwiftShader (apt-get install -y chromium libvulkan1)' +
        ' or set VK_ICD_FILENAMES to a Vulkan ICD.',
    );
  }
  const info = adapter.info;
  // The backend registers itself with tfjs on import, so it must come after navigator.gpu exists.
  await import('@tensorflow/tfjs-backend-webgpu');
  return `${info.vendor} ${info.device || info.description || info.architecture}`.trim();
}

async function registerWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(`${pathToFileURL(dist).href}/`);
  // Node has no Worker-backed threads for this build: force the single-threaded SIMD binary.
  wasm.setThreadsCount(1);
  void join;
}

/**
 * Registers and selects `name`, then checks that tfjs really runs it.
 * @example
 * const info = await startBackend('webgpu'); // throws BackendError instead of running on cpu
 */
export async function startBackend(name: BackendName): Promise<BackendInfo> {
  if (started !== undefined) {
    if (started.name !== name) {
      throw new BackendError(
        `backend '${started.name}' is already running in this process; cannot switch to '${name}'`,
      );
    }
    return started;
  }
  let device = 'cpu';
  try {
    if (name === 'webgpu') device = await registerWebgpu();
    else if (name === 'wasm') await registerWasm();
    else await import('@tensorflow/tfjs-backend-cpu');
    const ok = await tf.setBackend(name);
    await tf.ready();
    if (!ok || tf.getBackend() !== name) {
      throw new BackendError(`tfjs did not start '${name}' (running '${tf.getBackend()}' instead)`);
    }
    // After setBackend: the stock kernels' setup must have run, they stay the fallback for odd cases.
    if (name === 'wasm' && process.env.ECG_TMP_GEMM !== 'stock') {
      const threads = process.env.ECG_TMP_GEMM_THREADS;
      const { gemm } = installGemmKernels(threads === undefined ? {} : { threads: Number(threads) });
      const running = await gemm.started();
      device = `cpu (wasm SIMD GEMM, ${running} thread${running === 1 ? '' : 's'})`;
    }
  } catch (err) {
    if (err instanceof BackendError) throw err;
    throw new BackendError(`backend '${name}' failed to start: ${(err as Error).message}`, { cause: err });
  }
  started = { name, device };
  return started;
}
