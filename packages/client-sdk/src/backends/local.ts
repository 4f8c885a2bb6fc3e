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
import { loadOrt, type OrtOptions } from './ort.ts';

export type LocalDevice = 'webgpu' | 'wasm';

/** Called with each segment (index, normalised data [B, 75, 10]) as it is decoded. */
export type SegmentSink = (index: number, data: Float32Array) => void;

export interface LocalEngine {
  readonly device: LocalDevice;
  run(ecg: Signal, onSegment?: SegmentSink): Promise<Signal>;
  dispose(): Promise<void>;
}

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

export async function createLocalEngine(
  device: LocalDevice,
  architecture: Architecture,
  graphs: ReadonlyMap<string, Uint8Array>,
  options: OrtOptions,
): Promise<LocalEngine> {
  const ort = await loadOrt(device === 'webgpu' ? 'webgpu' : 'wasm', options);
  const onGpu = device === 'webgpu';
  const sessionOptions: Ort.InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    ...(onGpu && architecture === 'transformer' ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
  };
  const open = async (role: string) => {
    const bytes = graphs.get(role);
    if (bytes === undefined) throw new BackendUnavailableError(`the model has no ${role} graph`);
    try {
      return await ort.InferenceSession.create(bytes, sessionOptions);
    } catch (err) {
      throw new BackendUnavailableError(
        `onnxruntime-web could not start the ${role} graph on ${device}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  const sessions =
    architecture === 'transformer'
      ? [await open('encoder'), await open('decoder-step')]
      : [await open('model')];

  async function run(ecg: Signal, onSegment?: SegmentSink): Promise<Signal> {
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
    device,
    run,
    async dispose() {
      for (const s of sessions) await s.release();
    },
  };
}
