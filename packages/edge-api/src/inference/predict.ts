/**
 * @module
 * Raw ECG in mV → TMP in mV through a loaded model, with the evaluation protocol of the trainer
 * (packages/trainer/src/evaluate.ts `modelInput`): the paper's Exp II input keeps the first 10 ms and
 * zeroes the rest before the lead-range normalisation, whether it arrives as 10 steps or as 500 steps
 * with `limitedTime`. Every model then sees [B, 12, 500]; the Transformer's encoder reads its first
 * 10 steps and the decoder step is run autoregressively by core's `decodeTransformer`.
 */

import {
  type Architecture,
  decodeTransformer,
  denormaliseVm,
  type EcgNormalisation,
  type GraphRunner,
  hasAddedRows,
  hostCache,
  InputError,
  N_LEADS,
  N_SITES,
  N_STEPS,
  prepareEcg,
  SEGMENT_STEPS,
  type Signal,
} from '@ecg-tmp/core';
import type { InferenceSession, Tensor } from 'onnxruntime-web/wasm';
import { onnxRuntime } from './ort.ts';
import type { LoadedModel } from './sessions.ts';

/**
 * Prepares a raw-mV ECG [B, 12, 500 | 10] as the model input [B, 12, 500] on the model's scale
 * (core's prepareEcg, shared with the trainer and the SDK). Every value is checked, including those
 * Exp II then discards.
 */
export function modelInput(
  ecg: Signal,
  limitedTime: boolean,
  method: EcgNormalisation,
  architecture?: Architecture,
): Signal {
  if (ecg.shape[1] !== N_LEADS)
    throw new InputError('bad_shape', `ecg: expected ${N_LEADS} leads, got ${ecg.shape[1]}`);
  return prepareEcg(ecg, { limitedTime, method, ...(architecture === undefined ? {} : { architecture }) });
}

// The exported graphs have tensor outputs only.
const runner = (session: InferenceSession): GraphRunner<Tensor> => ({
  run: async (feeds, fetches) =>
    (await (fetches === undefined ? session.run(feeds) : session.run(feeds, fetches))) as Record<
      string,
      Tensor
    >,
});

async function runSingle(model: LoadedModel, session: InferenceSession, x: Signal): Promise<Float32Array> {
  const ort = await onnxRuntime();
  const [b, c, t] = x.shape;
  const input = new ort.Tensor('float32', x.data, [b, c, t]);
  const inputName = model.manifest.inputs[0]!.name;
  const outputName = model.manifest.outputs[0]!.name;
  let outputs: Record<string, Tensor> = {};
  try {
    outputs = await runner(session).run({ [inputName]: input });
    const tmp = outputs[outputName];
    const dims = tmp?.dims.join(',');
    if (tmp === undefined || tmp.type !== 'float32' || dims !== `${b},${N_SITES},${N_STEPS}`) {
      throw new Error(
        `${model.manifest.name} ${model.manifest.version}: the graph's '${outputName}' is [${dims}] ${tmp?.type}, expected float32 [${b}, ${N_SITES}, ${N_STEPS}]`,
      );
    }
    return new Float32Array(tmp.data as Float32Array);
  } finally {
    input.dispose();
    for (const o of Object.values(outputs)) o.dispose();
  }
}

async function runTransformer(encoder: InferenceSession, step: InferenceSession, x: Signal) {
  const ort = await onnxRuntime();
  const [b, c, t] = x.shape;
  const input = new ort.Tensor('float32', x.data, [b, c, t]);
  const out = new Float32Array(b * N_SITES * N_STEPS);
  try {
    await decodeTransformer<Tensor>({
      encoder: runner(encoder),
      step: runner(step),
      ecg: input,
      // The decoder's tokens are the 75 site values of one time step, so its width is N_SITES.
      emptyCache: () => new ort.Tensor('float32', new Float32Array(0), [b, 0, N_SITES]),
      onSegment: (segment, index) => {
        const s = segment.data as Float32Array;
        for (let row = 0; row < b * N_SITES; row++) {
          out.set(
            s.subarray(row * SEGMENT_STEPS, (row + 1) * SEGMENT_STEPS),
            row * N_STEPS + index * SEGMENT_STEPS,
          );
        }
      },
      release: (tensor) => tensor.dispose(),
      // The cache stays in JS memory where the graph returns the added rows: reading the whole grown
      // cache back out of the wasm heap every step is slower than the step itself.
      ...(hasAddedRows(step.outputNames)
        ? {
            growCache: hostCache<Tensor>(
              b,
              N_SITES,
              (data, dims) => new ort.Tensor('float32', data, dims),
              (t) => t.data as Float32Array,
            ),
          }
        : {}),
    });
  } finally {
    input.dispose();
  }
  return out;
}

/**
 * Reconstructs TMP [B, 75, 500] in mV from a raw ECG [B, 12, 500 | 10] in mV.
 * @example
 * const tmp = await predict(model, { data, shape: [1, 12, 10] }); // Exp II
 */
export async function predict(
  model: LoadedModel,
  ecg: Signal,
  options: { readonly limitedTime?: boolean } = {},
): Promise<Signal> {
  const { normalisation } = model.manifest;
  const x = modelInput(ecg, options.limitedTime ?? false, normalisation.ecg, model.manifest.architecture);
  const g = model.graphs;
  const data =
    g.kind === 'single' ? await runSingle(model, g.model, x) : await runTransformer(g.encoder, g.step, x);
  return denormaliseVm({ data, shape: [x.shape[0], N_SITES, N_STEPS] }, normalisation.tmp);
}
