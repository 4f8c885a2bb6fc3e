/**
 * @module
 * Reconstruction on this device through onnxruntime-web, on WebGPU or WebAssembly. Takes the normalised
 * ECG and returns the normalised TMP; the Transformer runs core's decodeTransformer. On WebGPU every
 * graph output stays on the GPU (`preferredOutputLocation: 'gpu-buffer'`): the key/value cache and the
 * memory go from step to step without a copy, and only each 10-step segment is read back.
 */

import {
  type Architecture,
  decodeTransformer,
  hasAddedRows,
  hostCache,
  N_SITES,
  N_STEPS,
  SEGMENT_STEPS,
  type Signal,
} from '@ecg-tmp/core';
import type * as Ort from 'onnxruntime-web';
import { BackendUnavailableError } from '../errors.ts';
import { loadOrt, type OrtOptions, SESSION_LOG_SEVERITY } from './ort.ts';

export type LocalDevice = 'webgpu' | 'wasm';

/** Called with each segment (index, normalised data [B, 75, 10]) as it is decoded. */
export type SegmentSink = (index: number, data: Float32Array) => void;

export interface LocalEngine {
  /** Where it runs now: 'wasm' once a lost WebGPU device could not be replaced. */
  readonly device: LocalDevice;
  /** `signal` stops a Transformer decode between steps (a one-graph model runs to the end). */
  run(ecg: Signal, onSegment?: SegmentSink, signal?: AbortSignal): Promise<Signal>;
  dispose(): Promise<void>;
}

/** What happened when the WebGPU device was lost, for the reconstructor to report. */
export interface DeviceLossEvent {
  readonly from: 'webgpu';
  readonly to: LocalDevice;
  readonly reason: string;
}

/** The part of a GPUDevice this module uses (the SDK's types name no WebGPU global). */
interface GpuDeviceLike {
  readonly lost: Promise<{ readonly reason: string; readonly message: string }>;
}

/** Raised inside run() when the device goes while a run waits on it. */
class DeviceLost extends Error {}

/** How long a failed WebGPU run waits for `device.lost` to settle before calling the failure a bug. */
const LOSS_SETTLE_MS = 200;

const D_MODEL = N_SITES;

/**
 * One turn of the event loop (a message task), in which the page may paint. Not setTimeout(0): browsers
 * hold nested timers back ≥ 4 ms, which over the Transformer's 50 steps added ~200 ms to every streamed
 * WASM decode in Chromium; a message task costs ~0.03 ms.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/**
 * Under ORT's proxy (its WASM build in a Web Worker) a run transfers each input's ArrayBuffer to the
 * worker, detaching it here, and refuses two inputs on one buffer; the decoder gives every step the
 * encoder's memory, its cache and one empty tensor for several inputs. So there each run gets copies.
 */
function copyInputsOnRun(ort: typeof Ort, session: Ort.InferenceSession): void {
  const run = session.run.bind(session) as (
    feeds: Ort.InferenceSession.FeedsType,
    options?: Ort.InferenceSession.RunOptions,
  ) => Promise<Ort.InferenceSession.ReturnType>;
  const copy = (t: Ort.Tensor) =>
    new ort.Tensor(t.type as 'float32', (t.data as Float32Array).slice(), t.dims);
  Object.assign(session, {
    run: (feeds: Ort.InferenceSession.FeedsType, options?: Ort.InferenceSession.RunOptions) =>
      run(Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, copy(t)])), options),
  });
}

/**
 * Opens the model's graphs on `device`. On WebGPU it watches the GPU device ORT uses: if the device is
 * lost (a driver reset, the tab backgrounded on a phone, `device.destroy()`), a run that was waiting on
 * it is stopped, the sessions are re-created — on a fresh WebGPU device if ORT can make one, else on
 * onnxruntime-web's WASM build — the run is repeated there, and `onDeviceLost` is told.
 */
export async function createLocalEngine(
  device: LocalDevice,
  architecture: Architecture,
  graphs: ReadonlyMap<string, Uint8Array>,
  options: OrtOptions,
  onDeviceLost: (event: DeviceLossEvent) => void = () => {},
  ortModuleUrl?: string,
): Promise<LocalEngine> {
  interface Opened {
    readonly ort: typeof Ort;
    readonly device: LocalDevice;
    readonly sessions: Ort.InferenceSession[];
    /** The GPU device the sessions run on (WebGPU only) and, once it is lost, why. */
    readonly gpu?: GpuDeviceLike;
    lostReason?: string;
    lost?: Promise<string>;
  }

  async function open(on: LocalDevice): Promise<Opened> {
    const ort = await loadOrt(on, options, on === 'wasm' ? ortModuleUrl : undefined);
    const onGpu = on === 'webgpu';
    const sessionOptions: Ort.InferenceSession.SessionOptions = {
      executionProviders: [on],
      graphOptimizationLevel: 'all',
      // The sessions' own log level, not the page's env.logLevel (ort.ts).
      logSeverityLevel: SESSION_LOG_SEVERITY,
      ...(onGpu && architecture === 'transformer' ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
    };
    const create = async (role: string) => {
      const bytes = graphs.get(role);
      if (bytes === undefined) throw new BackendUnavailableError(`the model has no ${role} graph`);
      let session: Ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(bytes, sessionOptions);
      } catch (err) {
        throw new BackendUnavailableError(
          `onnxruntime-web could not start the ${role} graph on ${on}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      // A one-graph model is run as { ecg } → { tmp }: other names would fail every call, so refuse now.
      if (role === 'model' && !(session.inputNames.includes('ecg') && session.outputNames.includes('tmp'))) {
        const names = `inputs [${session.inputNames.join(', ')}], outputs [${session.outputNames.join(', ')}]`;
        await session.release().catch(() => {});
        throw new BackendUnavailableError(
          `the model graph has ${names}; the SDK runs input 'ecg' to output 'tmp' — the model does not follow the manifest's contract`,
        );
      }
      if (!onGpu && ort.env.wasm.proxy === true) copyInputsOnRun(ort, session);
      return session;
    };
    const sessions =
      architecture === 'transformer'
        ? [await create('encoder'), await create('decoder-step')]
        : [await create('model')];
    const opened: Opened = { ort, device: on, sessions };
    if (onGpu) {
      const gpu = (await Promise.resolve(ort.env.webgpu.device as unknown).catch(() => undefined)) as
        | GpuDeviceLike
        | undefined;
      if (gpu?.lost !== undefined) {
        Object.assign(opened, { gpu });
        opened.lost = gpu.lost.then((info) => {
          opened.lostReason = `${info.reason}${info.message ? `: ${info.message}` : ''}`;
          return opened.lostReason;
        });
      }
    }
    return opened;
  }

  let current = await open(device);
  let recovering: Promise<void> | undefined;

  /** Replaces sessions whose GPU device was lost: a fresh WebGPU device if ORT gives one, else WASM. */
  function recover(lost: Opened): Promise<void> {
    recovering ??= (async () => {
      // Releasing on a dead device may throw or never settle; the old sessions are gone either way.
      await Promise.race([
        Promise.allSettled(lost.sessions.map((s) => s.release())),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
      const why = `the WebGPU device was lost (${lost.lostReason ?? 'unknown reason'})`;
      let next: Opened | undefined;
      try {
        const again = await open('webgpu');
        if (again.gpu !== undefined && again.gpu !== lost.gpu) next = again;
        else await Promise.allSettled(again.sessions.map((s) => s.release()));
      } catch {
        // ORT keeps the lost device (or none can be had): WASM below.
      }
      next ??= await open('wasm');
      current = next;
      onDeviceLost({
        from: 'webgpu',
        to: next.device,
        reason:
          next.device === 'webgpu'
            ? `${why}; the sessions were re-created on a new WebGPU device`
            : `${why}; ORT could not get a new one, so the model now runs on WASM`,
      });
    })().finally(() => {
      recovering = undefined;
    });
    return recovering;
  }

  /** The GPU device's loss, if it comes within `ms` (a failed WebGPU run may precede `lost` settling). */
  async function lossWithin(on: Opened, ms: number): Promise<boolean> {
    if (on.lost === undefined) return false;
    if (on.lostReason !== undefined) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settled = await Promise.race([
      on.lost.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), ms);
      }),
    ]);
    clearTimeout(timer);
    return settled;
  }

  async function runOn(
    on: Opened,
    ecg: Signal,
    onSegment?: SegmentSink,
    signal?: AbortSignal,
  ): Promise<Signal> {
    const work = runSessions(on, ecg, onSegment, signal);
    if (on.lost === undefined) return work;
    // A run waiting on a device that is gone may never settle: stop waiting when the device goes.
    work.catch(() => {});
    return Promise.race([
      work,
      on.lost.then((reason) => {
        throw new DeviceLost(reason);
      }),
    ]);
  }

  async function run(ecg: Signal, onSegment?: SegmentSink, signal?: AbortSignal): Promise<Signal> {
    if (recovering !== undefined) await recovering;
    // A repeated run must not hand a streaming caller the segments it already has.
    let delivered = 0;
    const sink =
      onSegment === undefined
        ? undefined
        : (index: number, data: Float32Array) => {
            if (index < delivered) return;
            delivered = index + 1;
            onSegment(index, data);
          };
    const on = current;
    if (on.lostReason !== undefined) await recover(on);
    else {
      try {
        return await runOn(on, ecg, sink, signal);
      } catch (err) {
        signal?.throwIfAborted();
        if (!(err instanceof DeviceLost) && !(await lossWithin(on, LOSS_SETTLE_MS))) throw err;
        await recover(on);
      }
    }
    return runOn(current, ecg, sink, signal);
  }

  async function runSessions(
    on: Opened,
    ecg: Signal,
    onSegment?: SegmentSink,
    signal?: AbortSignal,
  ): Promise<Signal> {
    const { ort, sessions } = on;
    const onGpu = on.device === 'webgpu';
    const [b, c, t] = ecg.shape;
    const input = new ort.Tensor('float32', ecg.data, [b, c, t]);
    const out = new Float32Array(b * N_SITES * N_STEPS);
    if (architecture !== 'transformer') {
      const result = await sessions[0]!.run({ ecg: input });
      const tmp = result.tmp!;
      const data = (await tmp.getData()) as Float32Array;
      tmp.dispose();
      onSegment?.(0, data);
      return { data, shape: [b, N_SITES, t] };
    }
    const empty = new ort.Tensor('float32', new Float32Array(0), [b, 0, D_MODEL]);
    await decodeTransformer<Ort.Tensor>({
      encoder: sessions[0]! as never,
      step: sessions[1]! as never,
      ecg: input,
      emptyCache: () => empty,
      ...(signal === undefined ? {} : { signal }),
      onSegment: async (segment, index) => {
        const s = (await segment.getData()) as Float32Array;
        for (let row = 0; row < b * N_SITES; row++) {
          out.set(
            s.subarray(row * SEGMENT_STEPS, (row + 1) * SEGMENT_STEPS),
            row * N_STEPS + index * SEGMENT_STEPS,
          );
        }
        onSegment?.(index, s);
        // WASM runs each step on the calling thread: without a turn of the event loop the page cannot
        // paint a streamed segment until all 50 are decoded.
        if (onSegment !== undefined && !onGpu) await yieldToEventLoop();
      },
      release: (tensor) => {
        if (tensor !== empty) tensor.dispose();
      },
      // On WASM every output is copied out of the wasm heap into a new array: reading the whole grown
      // cache back each step took longer than the step (Chromium: 429 vs 204 ms per decode). Where the
      // graph returns the added rows, the cache is grown here instead; on WebGPU it stays on the GPU.
      ...(!onGpu && hasAddedRows(sessions[1]!.outputNames)
        ? {
            growCache: hostCache<Ort.Tensor>(
              b,
              D_MODEL,
              (data, dims) => new ort.Tensor('float32', data, dims),
              (t) => t.data as Float32Array,
            ),
          }
        : {}),
    });
    return { data: out, shape: [b, N_SITES, N_STEPS] };
  }

  return {
    get device() {
      return current.device;
    },
    run,
    async dispose() {
      if (recovering !== undefined) await recovering.catch(() => {});
      for (const s of current.sessions) await s.release();
    },
  };
}
