/**
 * @module
 * The Transformer's autoregressive decoding loop, written once for every runtime that runs the exported
 * graphs (onnxruntime-web in the browser, in a Worker, in Node). It is generic over the runtime's tensor
 * type, so the SDK can keep every tensor on the GPU between steps: the loop never reads a tensor, it
 * only passes each step's outputs to the next step and hands each new segment to `onSegment`.
 *
 * The exported pair of graphs (names in TRANSFORMER_IO):
 *   encoder       ecg [B, 12, T≥10] (reads the first 10 steps) → segment [B, 75, 10] (TMP steps 0–9)
 *                 and each decoder layer's cross-attention keys/values of the encoder memory
 *   decoder-step  the newest segment [B, 75, 10], the self-attention cache of every earlier token
 *                 (past_key_i / past_value_i [B, P, 75]) and the memory keys/values → next_segment
 *                 [B, 75, 10] (the following 10 steps) and the cache grown by 10 tokens (present_*);
 *                 graphs exported from 0.1.1 on also return just the added rows (added_key_i /
 *                 added_value_i [B, 10, 75]), for runtimes that keep the cache on the host (growCache)
 * Positions are taken from the cache length P, so a step needs no position input. The step accepts any
 * number n of new tokens ([B, 75, n] in, [B, 75, n] out); the loop always feeds one segment.
 *
 * A Transformer trained with `--encoder-input embedding` (a deviation from the paper) exports an encoder
 * whose first output is `start` [B, 75, 10] instead of `segment`: the 10 start tokens the decoder begins
 * from, not TMP. The loop then feeds them to the first step, whose next_segment is segment 0, and runs
 * the step steps/10 times instead of steps/10 − 1. The decoder-step graph is the same for both.
 */

import { InputError } from './errors.ts';
import { N_STEPS } from './layout.ts';

export const SEGMENT_STEPS = 10;
export const DECODER_LAYERS = 4;

export const TRANSFORMER_IO = {
  ecg: 'ecg',
  segment: 'segment',
  start: 'start',
  nextSegment: 'next_segment',
  memoryKey: (layer: number) => `memory_key_${layer}`,
  memoryValue: (layer: number) => `memory_value_${layer}`,
  pastKey: (layer: number) => `past_key_${layer}`,
  pastValue: (layer: number) => `past_value_${layer}`,
  presentKey: (layer: number) => `present_key_${layer}`,
  presentValue: (layer: number) => `present_value_${layer}`,
  addedKey: (layer: number) => `added_key_${layer}`,
  addedValue: (layer: number) => `added_value_${layer}`,
} as const;

/**
 * Whatever runs one graph: onnxruntime's InferenceSession.run has this shape. `fetches` names the
 * outputs wanted (all when absent).
 */
export interface GraphRunner<T> {
  run(feeds: Record<string, T>, fetches?: string[]): Promise<Record<string, T>>;
}

export interface DecodeOptions<T> {
  readonly encoder: GraphRunner<T>;
  readonly step: GraphRunner<T>;
  /** The normalised ECG [B, 12, T] (T ≥ 10), in the runtime's tensor type. */
  readonly ecg: T;
  /** An empty cache tensor [B, 0, 75] (the same one may be returned every time). */
  readonly emptyCache: () => T;
  /** Steps to reconstruct; a multiple of 10. Default 500. */
  readonly steps?: number;
  /** Sees segment `index` (steps 10·index … 10·index+9) as [B, 75, 10]; copy it if you keep it. */
  readonly onSegment: (segment: T, index: number) => void | Promise<void>;
  /** Frees a tensor the loop no longer needs (GPU buffers); optional. */
  readonly release?: (tensor: T) => void;
  /** Checked before every step; abort stops the loop with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Keeps the self-attention cache outside the graph: each step is asked only for next_segment and the
   * rows it added (added_key_i / added_value_i), and `growCache(past, added)` returns the cache the next
   * step is fed (`past` is a past_* name). For runtimes that copy every output back to the host, such as
   * onnxruntime-web's WASM build, where reading the whole grown cache back every step cost more than
   * the step (in Chromium 429 vs 204 ms per decode). Needs a decoder-step graph with those outputs
   * (hasAddedRows); leave unset to pass present_* from step to step (the GPU keeps them on the device).
   */
  readonly growCache?: (past: string, added: T) => T;
}

/** Whether a decoder-step graph with these output names returns the added cache rows (growCache). */
export function hasAddedRows(outputNames: readonly string[]): boolean {
  const io = TRANSFORMER_IO;
  return Array.from({ length: DECODER_LAYERS }, (_, l) => [io.addedKey(l), io.addedValue(l)])
    .flat()
    .every((name) => outputNames.includes(name));
}

/**
 * A growCache for host-side tensors: per cache name, the rows so far in one [B, capacity, 75] buffer for
 * B = 1 (each step's cache is a view, nothing is copied twice), or regrown per step for B > 1 (the
 * tensor must be contiguous [B, P, 75]). `tensor` makes the runtime's tensor, `read` gets its data.
 */
export function hostCache<T>(
  batch: number,
  width: number,
  tensor: (data: Float32Array, dims: [number, number, number]) => T,
  read: (t: T) => Float32Array,
  capacity: number = N_STEPS,
): (past: string, added: T) => T {
  const rows = new Map<string, { data: Float32Array; length: number }>();
  return (past, added) => {
    const a = read(added);
    const n = a.length / (batch * width);
    const prev = rows.get(past) ?? { data: new Float32Array(0), length: 0 };
    const length = prev.length + n;
    let data: Float32Array;
    if (batch === 1) {
      data =
        prev.data.length >= length * width ? prev.data : new Float32Array(Math.max(capacity, length) * width);
      if (data !== prev.data) data.set(prev.data.subarray(0, prev.length * width));
      data.set(a, prev.length * width);
    } else {
      data = new Float32Array(batch * length * width);
      for (let b = 0; b < batch; b++) {
        data.set(
          prev.data.subarray(b * prev.length * width, (b + 1) * prev.length * width),
          b * length * width,
        );
        data.set(a.subarray(b * n * width, (b + 1) * n * width), (b * length + prev.length) * width);
      }
    }
    rows.set(past, { data, length });
    return tensor(batch === 1 ? data.subarray(0, length * width) : data, [batch, length, width]);
  };
}

/**
 * Runs the encoder once and the decoder step (steps/10 − 1) times (steps/10 from start tokens).
 * @example
 * await decodeTransformer({ encoder, step, ecg, emptyCache: () => empty, onSegment: (s, i) => draw(s, i) });
 */
export async function decodeTransformer<T>(options: DecodeOptions<T>): Promise<void> {
  const steps = options.steps ?? N_STEPS;
  if (!Number.isInteger(steps) || steps < SEGMENT_STEPS || steps % SEGMENT_STEPS !== 0) {
    throw new InputError(
      'bad_shape',
      `decode length must be a positive multiple of ${SEGMENT_STEPS}, got ${steps}`,
    );
  }
  const io = TRANSFORMER_IO;
  const release = options.release ?? (() => {});
  const grow = options.growCache;
  const fetches = [
    io.nextSegment,
    ...Array.from({ length: DECODER_LAYERS }, (_, l) => [io.addedKey(l), io.addedValue(l)]).flat(),
  ];
  options.signal?.throwIfAborted();
  const encoded = await options.encoder.run({ [io.ecg]: options.ecg });
  const memory: Record<string, T> = {};
  const cache: Record<string, T> = {};
  for (let layer = 0; layer < DECODER_LAYERS; layer++) {
    for (const name of [io.memoryKey(layer), io.memoryValue(layer)]) {
      const t = encoded[name];
      if (t === undefined) throw new InputError('bad_model', `the encoder graph has no output '${name}'`);
      memory[name] = t;
    }
    cache[io.pastKey(layer)] = options.emptyCache();
    cache[io.pastValue(layer)] = options.emptyCache();
  }
  // Segment 0 itself, or the start tokens the decoder predicts segment 0 from (not shown: not TMP).
  const start = encoded[io.start];
  let segment = start ?? encoded[io.segment];
  if (segment === undefined)
    throw new InputError(
      'bad_model',
      `the encoder graph has neither output '${io.segment}' nor '${io.start}'`,
    );
  const first = start === undefined ? 1 : 0;
  try {
    if (first === 1) await options.onSegment(segment, 0);
    for (let index = first; index < steps / SEGMENT_STEPS; index++) {
      options.signal?.throwIfAborted();
      const feeds: Record<string, T> = { [io.segment]: segment, ...cache, ...memory };
      const out = grow === undefined ? await options.step.run(feeds) : await options.step.run(feeds, fetches);
      const next = out[io.nextSegment];
      if (next === undefined)
        throw new InputError('bad_model', `the decoder-step graph has no output '${io.nextSegment}'`);
      release(segment);
      segment = next;
      for (let layer = 0; layer < DECODER_LAYERS; layer++) {
        for (const [past, present, added] of [
          [io.pastKey(layer), io.presentKey(layer), io.addedKey(layer)],
          [io.pastValue(layer), io.presentValue(layer), io.addedValue(layer)],
        ] as const) {
          const name = grow === undefined ? present : added;
          const t = out[name];
          if (t === undefined)
            throw new InputError('bad_model', `the decoder-step graph has no output '${name}'`);
          if (index > first) release(cache[past]!);
          if (grow === undefined) cache[past] = t;
          else {
            cache[past] = grow(past, t);
            release(t);
          }
        }
      }
      await options.onSegment(segment, index);
    }
  } finally {
    release(segment);
    for (const t of Object.values(memory)) release(t);
    for (const t of Object.values(cache)) release(t);
  }
}
