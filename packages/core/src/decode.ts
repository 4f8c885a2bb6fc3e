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
 *                 [B, 75, 10] (the following 10 steps) and the cache grown by 10 tokens (present_*)
 * Positions are taken from the cache length P, so a step needs no position input. The step accepts any
 * number n of new tokens ([B, 75, n] in, [B, 75, n] out); the loop always feeds one segment.
 */

import { InputError } from './errors.ts';
import { N_STEPS } from './layout.ts';

export const SEGMENT_STEPS = 10;
export const DECODER_LAYERS = 4;

export const TRANSFORMER_IO = {
  ecg: 'ecg',
  segment: 'segment',
  nextSegment: 'next_segment',
  memoryKey: (layer: number) => `memory_key_${layer}`,
  memoryValue: (layer: number) => `memory_value_${layer}`,
  pastKey: (layer: number) => `past_key_${layer}`,
  pastValue: (layer: number) => `past_value_${layer}`,
  presentKey: (layer: number) => `present_key_${layer}`,
  presentValue: (layer: number) => `present_value_${layer}`,
} as const;

/** Whatever runs one graph: onnxruntime's InferenceSession.run has this shape. */
export interface GraphRunner<T> {
  run(feeds: Record<string, T>): Promise<Record<string, T>>;
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
}

/**
 * Runs the encoder once and the decoder step (steps/10 − 1) times.
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
  let segment = encoded[io.segment];
  if (segment === undefined)
    throw new InputError('bad_model', `the encoder graph has no output '${io.segment}'`);
  try {
    await options.onSegment(segment, 0);
    for (let index = 1; index < steps / SEGMENT_STEPS; index++) {
      options.signal?.throwIfAborted();
      const out = await options.step.run({ [io.segment]: segment, ...cache, ...memory });
      const next = out[io.nextSegment];
      if (next === undefined)
        throw new InputError('bad_model', `the decoder-step graph has no output '${io.nextSegment}'`);
      release(segment);
      segment = next;
      for (let layer = 0; layer < DECODER_LAYERS; layer++) {
        for (const [past, present] of [
          [io.pastKey(layer), io.presentKey(layer)],
          [io.pastValue(layer), io.presentValue(layer)],
        ] as const) {
          const grown = out[present];
          if (grown === undefined)
            throw new InputError('bad_model', `the decoder-step graph has no output '${present}'`);
          if (index > 1) release(cache[past]!);
          cache[past] = grown;
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
