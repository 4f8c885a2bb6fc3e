/**
 * @module
 * onnxruntime-web, loaded on first use (so an app that only calls the edge never downloads it) and
 * configured once: where its .wasm/.mjs files are served from (`wasmPaths`; by default next to the ORT
 * module, i.e. by the app — never a third-party CDN), and threads when the page is cross-origin isolated.
 */

import type * as Ort from 'onnxruntime-web';
import { BackendUnavailableError } from '../errors.ts';

export type OrtModule = typeof Ort;
export type OrtBuild = 'webgpu' | 'wasm';

export interface OrtOptions {
  /** A URL prefix (ending in '/') or per-file URLs for ORT's wasm files. */
  readonly wasmPaths?: string | { readonly wasm?: string; readonly mjs?: string };
  /** WebAssembly threads; default: up to 4 when crossOriginIsolated, else 1. */
  readonly numThreads?: number;
}

const builds = new Map<OrtBuild, Promise<OrtModule>>();

export function loadOrt(build: OrtBuild, options: OrtOptions): Promise<OrtModule> {
  let loading = builds.get(build);
  if (loading === undefined) {
    loading = (async () => {
      let ort: OrtModule;
      try {
        ort = (
          build === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm')
        ) as OrtModule;
      } catch (err) {
        // A page without the import map (or a blocked file) must still reach the next backend.
        throw new BackendUnavailableError(
          `onnxruntime-web/${build} could not be imported (${(err as Error).message}); a page that loads the built bundle needs an import map for it`,
          { cause: err },
        );
      }
      if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths as never;
      const isolated = typeof globalThis.crossOriginIsolated === 'boolean' && globalThis.crossOriginIsolated;
      const cores = typeof navigator !== 'undefined' ? (navigator.hardwareConcurrency ?? 1) : 1;
      ort.env.wasm.numThreads = options.numThreads ?? (isolated ? Math.max(1, Math.min(4, cores)) : 1);
      ort.env.wasm.proxy = false;
      ort.env.logLevel = 'error';
      return ort;
    })();
    builds.set(build, loading);
    loading.catch(() => builds.delete(build));
  }
  return loading;
}
