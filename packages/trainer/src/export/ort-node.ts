/**
 * @module
 * Runs exported graphs with onnxruntime-web's WebAssembly build in Node — the same engine the SDK's
 * WASM path and the edge use — for parity tests, `verify-model` and the manifest's metrics.
 */

import {
  type Architecture,
  decodeTransformer,
  hasAddedRows,
  hostCache,
  InputError,
  N_SITES,
  N_STEPS,
  SEGMENT_STEPS,
  type Signal,
} from '@ecg-tmp/core';
import * as ort from 'onnxruntime-web/wasm';
import { D_MODEL } from '../models/transformer.ts';
import type { GraphRole } from './graphs.ts';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

/** Opens a graph; a malformed or truncated file is an InputError naming the file. */
export async function openSession(bytes: Uint8Array, source: string): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  } catch (err) {
    const why = (err as Error).message.replace(/^.*ERROR_MESSAGE:\s*/s, '');
    throw new InputError('bad_model', `${source} is not a usable ONNX model: ${why}`, { cause: err });
  }
}

export type Graphs = Partial<Record<GraphRole, Uint8Array>>;

/** A loaded model: normalised ECG [B, 12, T] → normalised TMP [B, 75, 500]. */
export class OrtModel {
  private constructor(
    readonly architecture: Architecture,
    readonly sessions: Partial<Record<GraphRole, ort.InferenceSession>>,
  ) {}

  static async open(
    architecture: Architecture,
    graphs: Graphs,
    source: string = architecture,
  ): Promise<OrtModel> {
    const sessions: Partial<Record<GraphRole, ort.InferenceSession>> = {};
    const roles: GraphRole[] = architecture === 'transformer' ? ['encoder', 'decoder-step'] : ['model'];
    for (const role of roles) {
      const bytes = graphs[role];
      if (bytes === undefined) throw new InputError('bad_model', `${source} has no ${role} graph`);
      sessions[role] = await openSession(bytes, `${source} (${role})`);
    }
    return new OrtModel(architecture, sessions);
  }

  async predict(ecg: Signal, onSegment?: (index: number) => void): Promise<Signal> {
    const [b, c, t] = ecg.shape;
    const input = new ort.Tensor('float32', ecg.data, [b, c, t]);
    if (this.architecture !== 'transformer') {
      const out = await this.sessions.model!.run({ ecg: input });
      const tmp = out.tmp as ort.Tensor;
      onSegment?.(0);
      return { data: tmp.data as Float32Array, shape: tmp.dims as [number, number, number] };
    }
    const data = new Float32Array(b * N_SITES * N_STEPS);
    const empty = new ort.Tensor('float32', new Float32Array(0), [b, 0, D_MODEL]);
    const step = this.sessions['decoder-step']!;
    await decodeTransformer<ort.Tensor>({
      encoder: this.sessions.encoder! as never,
      step: step as never,
      ecg: input,
      emptyCache: () => empty,
      onSegment: (segment, index) => {
        const s = segment.data as Float32Array;
        for (let row = 0; row < b * N_SITES; row++) {
          data.set(
            s.subarray(row * SEGMENT_STEPS, (row + 1) * SEGMENT_STEPS),
            row * N_STEPS + index * SEGMENT_STEPS,
          );
        }
        onSegment?.(index);
      },
      ...(hasAddedRows(step.outputNames)
        ? {
            growCache: hostCache<ort.Tensor>(
              b,
              D_MODEL,
              (values, dims) => new ort.Tensor('float32', values, dims),
              (t) => t.data as Float32Array,
            ),
          }
        : {}),
    });
    return { data, shape: [b, N_SITES, N_STEPS] };
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s.release();
  }
}
