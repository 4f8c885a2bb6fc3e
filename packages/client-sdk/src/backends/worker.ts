/**
 * @module
 * The WASM engine in a Web Worker of the SDK's own (`proxy: true` where the page serves the worker
 * script): the worker opens the sessions and runs a whole reconstruction — for the Transformer all 50
 * decoder steps — and posts each segment back as it is decoded. With onnxruntime-web's own proxy every
 * decoder step is a round trip through the page (its run() is called here, executed there), so a page
 * busy drawing holds up the decode; here the page only receives segments.
 *
 * The worker is a module worker, and module workers have no import map: it imports onnxruntime-web from
 * the URL the page resolves for `onnxruntime-web/wasm` (`import.meta.resolve`, i.e. the page's import
 * map). Where the page has no worker script or no such URL (an app bundling the SDK from node_modules),
 * reconstructor.ts uses ORT's proxy instead, as before.
 */

import type { Architecture, Signal } from '@ecg-tmp/core';
import { BackendUnavailableError } from '../errors.ts';
import type { LocalEngine, SegmentSink } from './local.ts';
import { defaultThreads, type OrtOptions } from './ort.ts';

/** Page → worker. */
export type ToWorker =
  | {
      readonly type: 'open';
      readonly ortUrl: string;
      readonly architecture: Architecture;
      readonly graphs: readonly (readonly [string, Uint8Array])[];
      readonly numThreads: number;
    }
  | {
      readonly type: 'run';
      readonly id: number;
      readonly data: Float32Array;
      readonly shape: Signal['shape'];
    }
  | { readonly type: 'abort'; readonly id: number };

/** Worker → page. */
export type FromWorker =
  | { readonly type: 'opened' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'segment'; readonly id: number; readonly index: number; readonly data: Float32Array }
  | {
      readonly type: 'done';
      readonly id: number;
      readonly data: Float32Array;
      readonly shape: Signal['shape'];
    }
  | { readonly type: 'error'; readonly id: number; readonly name: string; readonly message: string };

/** Set by the one-file bundle's build to worker-file.ts's WORKER_FILE; absent in the per-file package and from src/. */
declare const __ECG_TMP_SDK_WORKER_FILE__: string | undefined;

/**
 * Where the SDK's worker and onnxruntime-web's WASM build are, or why the worker cannot be used here.
 * `workerUrl`: the app's, else the script beside the one-file bundle.
 */
export function workerSetup(workerUrl: string | URL | undefined): { worker: URL; ortUrl: string } | string {
  if (typeof Worker !== 'function') return 'this environment has no Web Worker';
  let worker: URL;
  try {
    if (workerUrl !== undefined) worker = new URL(workerUrl, globalThis.location?.href);
    else if (typeof __ECG_TMP_SDK_WORKER_FILE__ === 'string')
      worker = new URL(__ECG_TMP_SDK_WORKER_FILE__, import.meta.url);
    else return 'no worker script (pass workerUrl, or load the one-file bundle)';
  } catch (err) {
    return `workerUrl is not a URL (${(err as Error).message})`;
  }
  let ortUrl: string;
  try {
    // Resolves through the page's import map; throws (or is missing) where there is none.
    ortUrl = (import.meta as { resolve?: (specifier: string) => string }).resolve!('onnxruntime-web/wasm');
    if (ortUrl.startsWith('onnxruntime-web')) throw new Error('not resolved');
  } catch {
    return 'onnxruntime-web/wasm does not resolve to a URL on this page (no import map)';
  }
  return { worker, ortUrl };
}

/**
 * Starts the worker and opens the model's graphs there. Throws BackendUnavailableError if the script
 * does not load or ORT does not open the graphs; the caller then falls back to ORT's own proxy.
 */
export async function createWorkerEngine(
  setup: { worker: URL; ortUrl: string },
  architecture: Architecture,
  graphs: ReadonlyMap<string, Uint8Array>,
  options: OrtOptions,
): Promise<LocalEngine> {
  const worker = new Worker(setup.worker, { type: 'module', name: 'ecg-tmp-sdk' });
  let broken: string | undefined;
  const pending = new Map<
    number,
    { resolve(s: Signal): void; reject(e: unknown): void; onSegment: SegmentSink | undefined }
  >();
  const fail = (why: string) => {
    broken ??= why;
    for (const p of pending.values()) p.reject(new Error(why));
    pending.clear();
  };

  // Copies: the caller keeps its bytes (they are cached, and ORT's proxy needs them if this fails).
  const copies = [...graphs].map(([role, bytes]) => [role, bytes.slice()] as const);
  const open: ToWorker = {
    type: 'open',
    ortUrl: setup.ortUrl,
    architecture,
    graphs: copies,
    // One core fewer than the page's default: the page keeps a core to draw on. ORT's threads meet at a
    // barrier in every parallel operator, so one thread the page's work pushes off its core stalls them
    // all (on 2 cores, Chromium: the Transformer's decode in the worker took 294–305 ms with 2 threads
    // while the demo drew, 199–242 ms with 1).
    numThreads: options.numThreads ?? defaultThreads(1),
  };
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        if (e.data.type === 'opened') resolve();
        else if (e.data.type === 'failed') reject(new Error(e.data.message));
      };
      worker.onerror = (e) => {
        e.preventDefault?.();
        reject(
          new Error(`the worker script ${setup.worker.href} did not load (${e.message || 'no message'})`),
        );
      };
      worker.postMessage(
        open,
        copies.map(([, bytes]) => bytes.buffer as ArrayBuffer),
      );
    });
  } catch (err) {
    worker.terminate();
    throw new BackendUnavailableError(`the SDK's worker: ${(err as Error).message}`, { cause: err });
  }

  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    if (m.type === 'opened' || m.type === 'failed') return;
    const p = pending.get(m.id);
    if (p === undefined) return; // aborted here already
    if (m.type === 'segment') p.onSegment?.(m.index, m.data);
    else {
      pending.delete(m.id);
      if (m.type === 'done') p.resolve({ data: m.data, shape: m.shape });
      else p.reject(Object.assign(new Error(m.message), { name: m.name }));
    }
  };
  worker.onerror = (e) => {
    e.preventDefault?.();
    fail(`the SDK's worker stopped: ${e.message || 'an uncaught error'}`);
  };

  let next = 0;
  return {
    device: 'wasm',
    run(ecg, onSegment, signal) {
      if (broken !== undefined) return Promise.reject(new Error(broken));
      signal?.throwIfAborted();
      const id = next++;
      return new Promise<Signal>((resolve, reject) => {
        const onAbort = () => {
          pending.delete(id);
          worker.postMessage({ type: 'abort', id } satisfies ToWorker);
          reject(signal!.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const settle =
          <T>(f: (v: T) => void) =>
          (v: T) => {
            signal?.removeEventListener('abort', onAbort);
            f(v);
          };
        pending.set(id, { resolve: settle(resolve), reject: settle(reject), onSegment });
        const data = ecg.data.slice();
        worker.postMessage({ type: 'run', id, data, shape: ecg.shape } satisfies ToWorker, [data.buffer]);
      });
    },
    async dispose() {
      fail('the reconstructor was disposed');
      worker.terminate();
    },
  };
}
