/**
 * @module
 * onnxruntime-web, loaded on first use (so an app that only calls the edge never downloads it). Its
 * `env` is the page's, shared with anything else that imports the same build (transformers.js, the app
 * itself), so the SDK sets only what nobody has set, once, when it first loads a build:
 *   - `env.wasm.wasmPaths` ← the `wasmPaths` option, if given and the env has none (by default ORT looks
 *     next to its own module, i.e. the app serves the files — never a third-party CDN);
 *   - `env.wasm.numThreads` ← the `numThreads` option, else up to 4 when the page is cross-origin
 *     isolated, else 1 — if the env has none.
 *   - `env.wasm.proxy` ← true, only when the app asks with the `proxy` option, the SDK's own worker
 *     (backends/worker.ts) cannot be used, only in the WASM build and only if the env has none: ORT then
 *     runs in a Web Worker of its own, off the page's main thread.
 * It never touches `env.logLevel`: its sessions ask for error-level logs through their own session
 * options (`logSeverityLevel`), not the page's global level.
 */

import type * as Ort from 'onnxruntime-web';
import { BackendUnavailableError } from '../errors.ts';

export type OrtModule = typeof Ort;
export type OrtBuild = 'webgpu' | 'wasm';

export interface OrtOptions {
  /** A URL prefix (ending in '/') or per-file URLs for ORT's wasm files; ignored if the page set its own. */
  readonly wasmPaths?: string | { readonly wasm?: string; readonly mjs?: string };
  /** WebAssembly threads (default: up to 4 when crossOriginIsolated, else 1); ignored if the page set its own. */
  readonly numThreads?: number;
  /**
   * Run the WASM backend off the page's main thread, so a reconstruction never blocks it. Default false;
   * not used on WebGPU. Where the page serves the SDK's worker script (`workerUrl`, or
   * ecg-tmp-sdk-worker.js beside the one-file bundle) and resolves `onnxruntime-web/wasm` to a URL (an
   * import map), the whole reconstruction runs in that worker and only the segments come back; else
   * onnxruntime-web's own proxy (`env.wasm.proxy`, unless the page set it), where each decoder step is
   * a round trip through the page.
   */
  readonly proxy?: boolean;
  /** The SDK's worker script (with `proxy`); default: ecg-tmp-sdk-worker.js beside the one-file bundle. */
  readonly workerUrl?: string | URL;
}

/** ORT's log levels as numbers (session options): 3 = error. */
export const SESSION_LOG_SEVERITY = 3;

const builds = new Map<OrtBuild, Promise<OrtModule>>();

/**
 * WebAssembly threads when the app gives none: on a cross-origin isolated page the machine's cores less
 * `spare` (at least 1, at most 4), else 1 (threads need the isolation).
 */
export function defaultThreads(spare = 0): number {
  const isolated = typeof globalThis.crossOriginIsolated === 'boolean' && globalThis.crossOriginIsolated;
  const cores = typeof navigator !== 'undefined' ? (navigator.hardwareConcurrency ?? 1) : 1;
  return isolated ? Math.max(1, Math.min(4, cores - spare)) : 1;
}

/**
 * Loads onnxruntime-web's `build` once. `moduleUrl` imports it from that URL instead of the bare
 * specifier: the SDK's worker (worker.ts) gets the URL the page's import map resolved, because a module
 * worker has no import map of its own.
 */
export function loadOrt(build: OrtBuild, options: OrtOptions, moduleUrl?: string): Promise<OrtModule> {
  let loading = builds.get(build);
  if (loading === undefined) {
    loading = (async () => {
      let ort: OrtModule;
      try {
        ort = (
          moduleUrl !== undefined
            ? await import(/* @vite-ignore */ moduleUrl)
            : build === 'webgpu'
              ? await import('onnxruntime-web/webgpu')
              : await import('onnxruntime-web/wasm')
        ) as OrtModule;
      } catch (err) {
        // A page without the import map (or a blocked file) must still reach the next backend.
        throw new BackendUnavailableError(
          `onnxruntime-web/${build} could not be imported (${(err as Error).message}); a page that loads the built bundle needs an import map for it`,
          { cause: err },
        );
      }
      const wasm = ort.env.wasm;
      // What the app (or a library it uses) set before us stays as it is.
      if (options.wasmPaths !== undefined && wasm.wasmPaths === undefined)
        wasm.wasmPaths = options.wasmPaths as never;
      if (wasm.numThreads === undefined) wasm.numThreads = options.numThreads ?? defaultThreads();
      // ORT's proxy serves its WASM backend only; the WebGPU build keeps the GPU work on this thread.
      if (options.proxy === true && build === 'wasm' && wasm.proxy === undefined) wasm.proxy = true;
      return ort;
    })();
    builds.set(build, loading);
    loading.catch(() => builds.delete(build));
  }
  return loading;
}
