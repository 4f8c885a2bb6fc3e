/**
 * @module
 * Progress events, as a tagged union (like transformers.js): `initiate` when a file is needed,
 * `download` with running byte counts, `verify` once its sha256 is checked, `ready` when the model can
 * run. `file` is the manifest path; `cached: true` marks files served from the local cache. Along the
 * way: `retry` before each retried request (what failed, how long it waits), and `fallback` when the
 * SDK settles for less than asked — a cached manifest because the edge failed, another backend because
 * the WebGPU device was lost — with the reason (also on `Reconstructor.fallbackReason`).
 */

export type ProgressEvent =
  | { readonly status: 'initiate'; readonly model: string; readonly file: string; readonly total: number }
  | {
      readonly status: 'download';
      readonly model: string;
      readonly file: string;
      readonly loaded: number;
      readonly total: number;
      /** Over every file of this load. */
      readonly loadedAll: number;
      readonly totalAll: number;
    }
  | { readonly status: 'verify'; readonly model: string; readonly file: string; readonly cached: boolean }
  | { readonly status: 'ready'; readonly model: string; readonly version: string; readonly backend: string }
  | {
      readonly status: 'retry';
      readonly model: string;
      readonly url: string;
      /** The attempt about to be made (1 = the first retry). */
      readonly attempt: number;
      /** The jittered wait before it. */
      readonly delayMs: number;
      /** What went wrong with the previous attempt. */
      readonly reason: string;
    }
  | { readonly status: 'fallback'; readonly model: string; readonly reason: string };

export type ProgressCallback = (event: ProgressEvent) => void;
