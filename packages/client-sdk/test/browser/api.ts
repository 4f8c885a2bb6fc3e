/**
 * @module
 * What the test page (page.ts) puts on `globalThis.harness` for Node to call through Playwright's
 * `page.evaluate`, and the GPU-buffer counters of gpu-buffers.ts. Shared by both sides, so it names no
 * DOM type (Node's tsconfig has none). Typed arrays cross `page.evaluate` as typed arrays.
 */

export type HarnessDevice = 'auto' | 'webgpu' | 'wasm' | 'remote';

export interface OpenOptions {
  readonly model: string;
  readonly device: HarnessDevice;
  readonly edgeUrl: string;
  readonly dtype?: 'fp32' | 'fp16';
  /** 'none' keeps runs independent of what an earlier page cached. Default: the SDK's ('cache-api'). */
  readonly cache?: 'cache-api' | 'none';
  /** ORT's WebAssembly threads; ORT reads it once per page, on first use. Default: the SDK's. */
  readonly numThreads?: number;
  /** The SDK's wasmPaths option. Default: '/ort/', where the page server has ORT's files. */
  readonly wasmPaths?: string;
  /** The SDK's proxy option: the WASM backend in a Web Worker. Default: the SDK's (off). */
  readonly proxy?: boolean;
  /** The SDK's workerUrl option. Default: the SDK's (the worker script beside its bundle). */
  readonly workerUrl?: string;
}

/** The onnxruntime-web settings an app may set in `env` (the WASM build's, which the SDK uses for 'wasm'). */
export interface OrtSettings {
  readonly wasmPaths?: string;
  readonly numThreads?: number;
  readonly proxy?: boolean;
  readonly logLevel?: string;
}

export interface Opened {
  readonly id: number;
  readonly backend: string;
  readonly fallbackReason: string | undefined;
  /** Every progress event's status and, for 'verify', whether the file came from the cache. */
  readonly progress: readonly { readonly status: string; readonly cached?: boolean }[];
}

export interface RunResult {
  /** The last run's TMP [B × 75 × 500] in mV (fewer steps from stream()). */
  readonly tmp: Float32Array;
  readonly backend: string;
  /** Wall time of each run (ms), reconstruct() called to resolved. */
  readonly ms: readonly number[];
}

export interface GpuBufferCounts {
  readonly created: number;
  readonly destroyed: number;
  /** Created and not yet destroyed. */
  readonly live: number;
  readonly liveBytes: number;
}

/** The stock runtime: onnxruntime-web with default session options, as an app would first write it. */
export interface StockOptions {
  readonly model: string;
  readonly ep: 'webgpu' | 'wasm';
  readonly edgeUrl: string;
  readonly runs: number;
}

export interface HarnessApi {
  open(options: OpenOptions): Promise<Opened>;
  /** Runs reconstruct() `runs` times (default 1) on the normalised-in-SDK ECG and returns the last. */
  run(id: number, ecg: Float32Array, runs?: number): Promise<RunResult>;
  /**
   * The first `segments` segments of stream() joined ([B × 75 × 10·segments], mV). The decode goes on
   * in the background: close the page to stop it.
   */
  stream(id: number, ecg: Float32Array, segments: number): Promise<RunResult>;
  /**
   * Streams with an AbortSignal and aborts once `segments` segments have come: what the stream threw
   * (its name), how many segments came before it ended, and the ms from the abort to the throw.
   */
  abortAfter(
    id: number,
    ecg: Float32Array,
    segments: number,
  ): Promise<{ readonly error: string; readonly segments: number; readonly ms: number }>;
  dispose(id: number): Promise<void>;
  /** The normalised ECG (what the SDK feeds its graphs) through stock.ts's baseline; ms per run. */
  stock(options: StockOptions, ecg: Float32Array): Promise<{ readonly ms: readonly number[] }>;
  gpuBuffers(): GpuBufferCounts | undefined;
  /**
   * Destroys the GPU device onnxruntime-web runs on (`ort.env.webgpu.device`), as a driver reset would
   * lose it; false when ORT has none yet (no WebGPU session was opened on this page).
   */
  loseGpuDevice(): Promise<boolean>;
  /** A reconstructor's backend and fallbackReason now, and every progress event since it was opened. */
  state(id: number): ReconstructorState;
  /** Sets onnxruntime-web/wasm's env as an app that configured ORT before the SDK would; returns it. */
  configureOrt(settings: OrtSettings): Promise<OrtSettings>;
  /** onnxruntime-web/wasm's env now. */
  ortEnv(): Promise<OrtSettings>;
  /** The script URL and name of every Web Worker the page has constructed, in order. */
  workers(): { readonly url: string; readonly name: string }[];
}

export interface ReconstructorState {
  readonly backend: string;
  readonly fallbackReason: string | undefined;
  readonly progress: readonly { readonly status: string; readonly reason?: string }[];
}

/** `globalThis` on the test page. */
export interface HarnessGlobal {
  harness: HarnessApi;
  gpuBufferCounts?: () => GpuBufferCounts;
}
