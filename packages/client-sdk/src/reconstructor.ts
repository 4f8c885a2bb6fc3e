/**
 * @module
 * `createReconstructor(options)`: finds the model, picks a backend (WebGPU → WASM → the edge), loads and
 * verifies its weights, and returns an object that reconstructs TMP (mV) from 12-lead ECGs (mV).
 * Pre- and post-processing are @ecg-tmp/core's, the same code the trainer and the edge use.
 */

import {
  type Architecture,
  checkInDistribution,
  denormaliseVm,
  ECG_FEATURE_NAMES,
  type InDistribution,
  type Manifest,
  N_SITES,
  N_STEPS,
  prepareEcg,
  SEGMENT_STEPS,
  type Signal,
} from '@ecg-tmp/core';
import { createLocalEngine, type LocalEngine } from './backends/local.ts';
import type { OrtOptions } from './backends/ort.ts';
import { createRemoteEngine, probeRemote, type RemoteEngine } from './backends/remote.ts';
import { type Backend, candidates, capabilities, type DeviceOption } from './backends/select.ts';
import { createWorkerEngine, workerSetup } from './backends/worker.ts';
import { BackendUnavailableError, NetworkError, OptionError, ReconstructorError } from './errors.ts';
import { type ByteStore, type CacheKind, openStore } from './hub/cache.ts';
import type { FetchContext, RetryOptions } from './hub/fetch.ts';
import { loadFiles, loadManifest, type Source } from './hub/models.ts';
import { type EcgInput, toSignal } from './input.ts';
import type { ProgressCallback } from './progress.ts';

export type ModelName = 'cnn' | 'cnn-lstm' | 'transformer' | (string & {});

export interface ReconstructorOptions extends RetryOptions, OrtOptions {
  readonly model: ModelName;
  /** A version or an alias. Default 'stable'. */
  readonly version?: string;
  /** The edge API's base URL (manifests, blobs, remote fallback). */
  readonly edgeUrl?: string;
  /** Instead of an edge: a URL serving a copy of the repository's models/ folder (no remote fallback). */
  readonly modelsUrl?: string;
  /**
   * 'auto' (WebGPU → WASM → remote, the default), one backend, or backends to try in order
   * (`['wasm', 'remote']`).
   */
  readonly device?: DeviceOption;
  /** Weight precision to download; fp16 halves the bytes. Default 'fp32'. */
  readonly dtype?: 'fp32' | 'fp16';
  readonly cache?: CacheKind | ByteStore;
  readonly onProgress?: ProgressCallback;
  /** Cancels loading (and nothing after: pass a signal to reconstruct() to cancel a call). */
  readonly signal?: AbortSignal;
  /** Defaults to globalThis.fetch. */
  readonly fetch?: typeof fetch;
}

export interface ReconstructOptions {
  /**
   * The paper's Exp II: only the first 10 ms of the ECG are used. The Transformer reads only them
   * anyway, and always as Exp II prepares them (core's readsFirstStepsOnly): for it this changes nothing.
   */
  readonly limitedTime?: boolean;
  readonly signal?: AbortSignal;
}

export interface Reconstruction {
  /** [B × 75 × 500] in mV, site-major. */
  readonly tmp: Float32Array;
  readonly shape: readonly [number, number, number];
  readonly backend: Backend;
  /**
   * Per ECG of the batch, how far it lies from the ECGs the model was trained on (@ecg-tmp/core's
   * checkInDistribution on the input in mV against the manifest's `inDistribution`). A model without
   * those statistics gives 'not-checked' — unknown, never "in range".
   */
  readonly inDistribution: readonly InDistribution[];
  readonly timings: { readonly preprocessMs: number; readonly inferMs: number; readonly totalMs: number };
}

export interface Segment {
  /** Segment index; covers steps [from, to). */
  readonly index: number;
  readonly from: number;
  readonly to: number;
  /** [B × 75 × (to − from)] in mV. */
  readonly tmp: Float32Array;
  readonly shape: readonly [number, number, number];
}

export interface Reconstructor {
  readonly model: string;
  readonly version: string;
  readonly architecture: Architecture;
  readonly manifest: Manifest;
  /**
   * The output's rows in order — row i of `tmp` is `sites[i]`: the recording site's name (AHA01 …
   * SEPTM_AHA14_RV13) and position (mm, the heart mesh's frame) — from the manifest; null for a version
   * exported before manifests listed them (its rows are in the same order, points.csv's).
   */
  readonly sites: Manifest['siteList'] | null;
  /** Where it runs now ('wasm' after a lost WebGPU device that could not be replaced). */
  readonly backend: Backend;
  /**
   * Why it is not on the first choice, or not on the edge's latest data: a backend earlier in the order
   * that could not run, a manifest that came from the cache because the edge failed, a WebGPU device
   * that was lost. Undefined when none of that happened.
   */
  readonly fallbackReason: string | undefined;
  reconstruct(ecg: EcgInput, options?: ReconstructOptions): Promise<Reconstruction>;
  /**
   * The in-distribution check alone, one result per ECG (what reconstruct() returns as
   * `inDistribution`; stream() gives none, so a streaming page calls this).
   * @example
   * const [check] = r.checkInDistribution(ecg);
   * if (check.status === 'unusual' || check.status === 'out-of-range') warn(check.message);
   */
  checkInDistribution(ecg: EcgInput): InDistribution[];
  stream(ecg: EcgInput, options?: ReconstructOptions): AsyncIterable<Segment>;
  dispose(): Promise<void>;
}

const now = () => performance.now();

/**
 * @example
 * const r = await createReconstructor({ model: 'cnn-lstm', edgeUrl: 'https://edge.example' });
 * const { tmp } = await r.reconstruct(ecg); // Float32Array 75 × 500, mV
 */
export async function createReconstructor(options: ReconstructorOptions): Promise<Reconstructor> {
  if (options.fetch === undefined && typeof globalThis.fetch !== 'function')
    throw new OptionError('this environment has no fetch: pass the fetch option');
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const onProgress = options.onProgress ?? (() => {});
  // Without the load's signal: the remote engine outlives loading, and each call brings its own.
  const callCtx: FetchContext = {
    fetch: fetchImpl,
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
    ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    onRetry: (e) => onProgress({ status: 'retry', model: options.model, ...e }),
  };
  const ctx: FetchContext = { ...callCtx, ...(options.signal ? { signal: options.signal } : {}) };
  const source: Source | undefined =
    options.modelsUrl !== undefined
      ? { kind: 'folder', url: options.modelsUrl }
      : options.edgeUrl !== undefined
        ? { kind: 'edge', url: options.edgeUrl }
        : undefined;
  if (source === undefined)
    throw new OptionError('createReconstructor needs edgeUrl (the edge API) or modelsUrl (a models/ folder)');
  const order = candidates(options.device ?? 'auto').filter(
    (b) => b !== 'remote' || options.edgeUrl !== undefined,
  );
  const store = openStore(options.cache);
  const version = options.version ?? 'stable';
  const reasons: string[] = [];
  const manifest = await loadManifest(source, options.model, version, ctx, store, (reason) => {
    reasons.push(reason);
    onProgress({ status: 'fallback', model: options.model, reason });
  });
  const caps = await capabilities();

  let engine: LocalEngine | RemoteEngine | undefined;
  /** Why the weights could not be downloaded: later local backends need the same files, so skip them. */
  let weightsError: NetworkError | undefined;
  let onDeviceLost: (reason: string) => void = () => {};
  for (const [i, backend] of order.entries()) {
    try {
      if (backend === 'remote') {
        // Reached because the network failed: make sure the edge answers before promising it will.
        if (weightsError !== undefined)
          await probeRemote(options.edgeUrl!, manifest.name, manifest.version, ctx);
        engine = createRemoteEngine(options.edgeUrl!, manifest.name, manifest.version, callCtx);
      } else {
        if (weightsError !== undefined)
          throw new BackendUnavailableError(`skipped, its weights could not be downloaded either`);
        if (backend === 'webgpu' && !caps.webgpu)
          throw new BackendUnavailableError(caps.webgpuReason ?? 'WebGPU is not available');
        if (backend === 'wasm' && !caps.wasm)
          throw new BackendUnavailableError('this environment has no WebAssembly');
        let graphs: Map<string, Uint8Array>;
        try {
          graphs = await loadFiles(source, manifest, options.dtype ?? 'fp32', ctx, store, onProgress);
        } catch (err) {
          // With the remote backend still to try, a failed download is a reason to move on to it.
          if (!(err instanceof NetworkError) || !order.slice(i + 1).includes('remote')) throw err;
          weightsError = err;
          throw new BackendUnavailableError(`the weights could not be downloaded (${err.message})`);
        }
        engine = await openLocal(backend, manifest.architecture, graphs, options, (reason) =>
          onDeviceLost(reason),
        );
      }
      break;
    } catch (err) {
      if (err instanceof NetworkError && weightsError !== undefined) {
        throw new NetworkError(
          `${manifest.name} ${manifest.version} could not be loaded: ${reasons.join('; ')}; and the edge's fallback API failed too (${err.message}). Check the connection and edgeUrl, then try again`,
          err.status,
          { cause: err },
        );
      }
      if (!(err instanceof BackendUnavailableError)) throw err;
      reasons.push(`${backend}: ${err.message}`);
    }
  }
  if (engine === undefined) {
    throw new BackendUnavailableError(
      `no backend could run ${manifest.name} here (${reasons.join('; ')})${options.edgeUrl === undefined ? '; pass edgeUrl to allow the remote fallback' : ''}`,
    );
  }
  const backend: Backend = engine.device;
  onProgress({ status: 'ready', model: manifest.name, version: manifest.version, backend });
  const r = makeReconstructor(manifest, engine, reasons.length > 0 ? reasons.join('; ') : undefined);
  onDeviceLost = (reason) => {
    r.noteFallback(reason);
    onProgress({ status: 'fallback', model: manifest.name, reason });
  };
  return r.reconstructor;
}

/**
 * The local engine for `backend`: with `proxy` on WASM, the SDK's own worker where the page serves it
 * (backends/worker.ts), else onnxruntime-web in this thread or behind its own proxy.
 */
async function openLocal(
  backend: 'webgpu' | 'wasm',
  architecture: Architecture,
  graphs: ReadonlyMap<string, Uint8Array>,
  options: ReconstructorOptions,
  onDeviceLost: (reason: string) => void,
): Promise<LocalEngine> {
  if (backend === 'wasm' && options.proxy === true) {
    const setup = workerSetup(options.workerUrl);
    if (typeof setup !== 'string') {
      try {
        return await createWorkerEngine(setup, architecture, graphs, options);
      } catch (err) {
        // A worker that does not start (script missing, ORT not found there) leaves ORT's own proxy.
        if (!(err instanceof BackendUnavailableError)) throw err;
      }
    }
  }
  return createLocalEngine(backend, architecture, graphs, options, (event) => onDeviceLost(event.reason));
}

function makeReconstructor(
  manifest: Manifest,
  engine: LocalEngine | RemoteEngine,
  initialReason: string | undefined,
): { reconstructor: Reconstructor; noteFallback(reason: string): void } {
  let fallbackReason = initialReason;
  let disposed = false;
  const live = () => {
    if (disposed) throw new ReconstructorError('this reconstructor was disposed; create a new one');
  };

  const stats = manifest.inDistribution;
  const mismatch =
    stats !== undefined && stats.features.join() !== ECG_FEATURE_NAMES.join()
      ? notChecked(
          `Not checked: this model's training-set statistics describe other ECG features than this SDK measures (${stats.features.length} vs ${ECG_FEATURE_NAMES.length}); use an SDK version that matches the model.`,
        )
      : undefined;
  /** The in-distribution check per ECG of a [B, 12, 500] mV signal. */
  const check = (signal: Signal): InDistribution[] => {
    const per = signal.shape[1] * signal.shape[2];
    return Array.from(
      { length: signal.shape[0] },
      (_, i) => mismatch ?? checkInDistribution(signal.data.subarray(i * per, (i + 1) * per), stats),
    );
  };

  /**
   * A run's failure as the SDK's: its own typed errors and a cancellation as they are, anything else
   * (onnxruntime-web failing inside a run) a ReconstructorError naming the model and backend.
   */
  const failed =
    (signal: AbortSignal | undefined) =>
    (err: unknown): never => {
      if (err instanceof ReconstructorError || signal?.aborted) throw err;
      if (err instanceof Error && err.name === 'AbortError') throw err;
      throw new ReconstructorError(
        `${manifest.name} ${manifest.version} failed while running on ${engine.device}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    };

  /** Runs the model, passing each decoded segment (mV) to `onSegment`. */
  async function run(
    ecg: EcgInput,
    options: ReconstructOptions,
    onSegment?: (segment: Segment) => void,
  ): Promise<Reconstruction> {
    live();
    options.signal?.throwIfAborted();
    const t0 = now();
    const signal = toSignal(ecg);
    const [b] = signal.shape;
    const limited = options.limitedTime ?? false;
    const inDistribution = check(signal);
    if (engine.device === 'remote') {
      const t1 = now();
      const out = await engine.run(signal, limited, options.signal).catch(failed(options.signal));
      const t2 = now();
      onSegment?.({ index: 0, from: 0, to: N_STEPS, tmp: out.data, shape: [b, N_SITES, N_STEPS] });
      return {
        tmp: out.data,
        shape: [b, N_SITES, N_STEPS],
        backend: 'remote',
        inDistribution,
        timings: { preprocessMs: t1 - t0, inferMs: t2 - t1, totalMs: t2 - t0 },
      };
    }
    const input = prepareEcg(signal, {
      limitedTime: limited,
      method: manifest.normalisation.ecg,
      architecture: manifest.architecture,
    });
    const t1 = now();
    // Only stream() listens to segments: reconstruct() passes no sink, so the engine never pauses to
    // let a page paint between decoding steps.
    const sink =
      onSegment === undefined
        ? undefined
        : (index: number, data: Float32Array) => {
            const width = data.length / (b * N_SITES);
            const mv = denormaliseVm({ data, shape: [b, N_SITES, width] }, manifest.normalisation.tmp);
            const from = width === SEGMENT_STEPS ? index * SEGMENT_STEPS : 0;
            onSegment({ index, from, to: from + width, tmp: mv.data, shape: [b, N_SITES, width] });
          };
    const out = await engine.run(input, sink, options.signal).catch(failed(options.signal));
    options.signal?.throwIfAborted();
    const t2 = now();
    const tmp = denormaliseVm(out, manifest.normalisation.tmp).data;
    const t3 = now();
    return {
      tmp,
      shape: [b, N_SITES, N_STEPS],
      backend: engine.device,
      inDistribution,
      timings: { preprocessMs: t1 - t0 + (t3 - t2), inferMs: t2 - t1, totalMs: t3 - t0 },
    };
  }

  const reconstructor: Reconstructor = {
    model: manifest.name,
    version: manifest.version,
    architecture: manifest.architecture,
    manifest,
    sites: manifest.siteList ?? null,
    get backend() {
      return engine.device;
    },
    get fallbackReason() {
      return fallbackReason;
    },
    reconstruct: (ecg, options = {}) => run(ecg, options),
    checkInDistribution: (ecg) => check(toSignal(ecg)),
    stream(ecg, options = {}) {
      return {
        [Symbol.asyncIterator]() {
          const queue: Segment[] = [];
          let wake: (() => void) | undefined;
          let finished = false;
          let failure: unknown;
          run(ecg, options, (segment) => {
            queue.push(segment);
            wake?.();
          }).then(
            () => {
              finished = true;
              wake?.();
            },
            (err: unknown) => {
              failure = err;
              finished = true;
              wake?.();
            },
          );
          return {
            async next(): Promise<IteratorResult<Segment>> {
              for (;;) {
                const segment = queue.shift();
                if (segment !== undefined) return { value: segment, done: false };
                if (failure !== undefined) throw failure;
                if (finished) return { value: undefined, done: true };
                await new Promise<void>((resolve) => {
                  wake = resolve;
                });
                wake = undefined;
              }
            },
          };
        },
      };
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (engine.device !== 'remote') await engine.dispose();
    },
  };
  return {
    reconstructor,
    noteFallback(reason) {
      fallbackReason = fallbackReason === undefined ? reason : `${fallbackReason}; ${reason}`;
    },
  };
}

/**
 * A 'not-checked' result with its own reason: statistics this SDK cannot read are unknown, like none —
 * the model still runs, and nothing claims the input is in range.
 */
function notChecked(message: string): InDistribution {
  return {
    status: 'not-checked',
    distance: null,
    threshold: null,
    trainingFractionCloser: null,
    farthest: [],
    message,
  };
}
