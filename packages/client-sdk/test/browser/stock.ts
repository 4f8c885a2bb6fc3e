/**
 * @module
 * The baseline the SDK is benchmarked against: stock onnxruntime-web as an app would first write it —
 * plain sessions (default options, outputs back on the CPU) on the edge's fp32 graphs. For the
 * Transformer that means no key/value cache: at each step the decoder-step graph gets the whole prefix
 * so far and an empty cache, as benchmarks/onnx-inference.ts's uncached decode does. Runs in the test
 * page and in Node (benchmarks/sdk.ts), so it names no DOM type.
 */

import {
  DECODER_LAYERS,
  TRANSFORMER_IO as io,
  N_LEADS,
  N_SITES,
  N_STEPS,
  parseManifest,
  SEGMENT_STEPS,
} from '@ecg-tmp/core';
import type * as Ort from 'onnxruntime-web';

export interface StockModel {
  readonly transformer: boolean;
  readonly sessions: readonly Ort.InferenceSession[];
}

/** Fetches a model's fp32 graphs from the edge and opens plain sessions on `ep`. */
export async function openStock(
  ort: typeof Ort,
  edgeUrl: string,
  model: string,
  ep: 'webgpu' | 'wasm',
): Promise<StockModel> {
  const base = edgeUrl.replace(/\/+$/, '');
  const manifest = parseManifest(await (await fetch(`${base}/v1/models/${model}/versions/stable`)).json());
  const transformer = manifest.architecture === 'transformer';
  const sessions: Ort.InferenceSession[] = [];
  for (const role of transformer ? ['encoder', 'decoder-step'] : ['model']) {
    const file = manifest.files.find((f) => f.role === role && f.dtype === 'fp32');
    if (file === undefined) throw new Error(`${model} has no fp32 ${role} graph`);
    const bytes = new Uint8Array(await (await fetch(`${base}/v1/blobs/${file.sha256}`)).arrayBuffer());
    sessions.push(await ort.InferenceSession.create(bytes, { executionProviders: [ep] }));
  }
  return { transformer, sessions };
}

/** One reconstruction of the normalised ECG [B × 12 × 500]; returns the normalised TMP [B × 75 × 500]. */
export async function runStock(ort: typeof Ort, stock: StockModel, ecg: Float32Array): Promise<Float32Array> {
  const b = ecg.length / (N_LEADS * N_STEPS);
  const input = new ort.Tensor('float32', ecg, [b, N_LEADS, N_STEPS]);
  if (!stock.transformer)
    return (await (await stock.sessions[0]!.run({ ecg: input })).tmp!.getData()) as Float32Array;
  const [encoder, step] = stock.sessions;
  const enc = await encoder!.run({ [io.ecg]: input });
  const empty = new ort.Tensor('float32', new Float32Array(0), [b, 0, N_SITES]);
  const memory = Object.fromEntries(Object.entries(enc).filter(([k]) => k.startsWith('memory_')));
  const out = new Float32Array(b * N_SITES * N_STEPS);
  const put = (seg: Float32Array, width: number, from: number, at: number) => {
    for (let row = 0; row < b * N_SITES; row++)
      out.set(seg.subarray(row * width + from, row * width + from + SEGMENT_STEPS), row * N_STEPS + at);
  };
  put((await enc[io.segment]!.getData()) as Float32Array, SEGMENT_STEPS, 0, 0);
  for (let k = 1; k < N_STEPS / SEGMENT_STEPS; k++) {
    const width = SEGMENT_STEPS * k;
    const prefix = new Float32Array(b * N_SITES * width);
    for (let row = 0; row < b * N_SITES; row++)
      prefix.set(out.subarray(row * N_STEPS, row * N_STEPS + width), row * width);
    const feeds: Record<string, Ort.Tensor> = {
      [io.segment]: new ort.Tensor('float32', prefix, [b, N_SITES, width]),
      ...memory,
    };
    for (let l = 0; l < DECODER_LAYERS; l++) feeds[io.pastKey(l)] = feeds[io.pastValue(l)] = empty;
    const r = await step!.run(feeds);
    put((await r[io.nextSegment]!.getData()) as Float32Array, width, width - SEGMENT_STEPS, width);
  }
  return out;
}
