/**
 * @module
 * Progress events, as a tagged union (like transformers.js): `initiate` when a file is needed,
 * `download` with running byte counts, `verify` once its sha256 is checked, `ready` when the model can
 * run. `file` is the manifest path; `cached: true` marks files served from the local cache.
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
  | { readonly status: 'ready'; readonly model: string; readonly version: string; readonly backend: string };

export type ProgressCallback = (event: ProgressEvent) => void;
