import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from './backend.ts';
import { toChannelsFirst } from './batches.ts';
import { buildGraphs } from './export/graphs.ts';
import { OrtModel } from './export/ort-node.ts';
import { createModel } from './models/index.ts';
import { pruneLastConv } from './prune.ts';

const FROM = [8, 8, 16];
/** Channels of the last convolution made constant over any input (their kernels zeroed). */
const CONSTANT = [1, 4, 5, 9, 12, 15];

beforeAll(async () => {
  await startBackend('cpu');
});

/** A small random CNN-LSTM whose CONSTANT channels carry nothing that varies. */
async function source() {
  const model = createModel('cnn-lstm', 5, { convChannels: FROM });
  const weights = await model.params.read();
  const w = weights.get('conv2.weight')!; // [3 · 8, 16]
  for (let row = 0; row < w.length / 16; row++) for (const c of CONSTANT) w[row * 16 + c] = 0;
  // Running statistics away from the defaults, so the BatchNorm (and the folded mean) really matter.
  const mean = weights.get('bn2.runningMean')!;
  for (let c = 0; c < mean.length; c++) mean[c] = 0.1 * Math.sin(c);
  model.params.write(weights);
  return { model, weights };
}

function predict(model: ReturnType<typeof createModel>, ecg: tf.Tensor3D): Float32Array {
  return tf.tidy(() => model.predict(ecg)).dataSync() as Float32Array;
}

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('pruneLastConv', () => {
  const ecg = tf.tidy(
    () =>
      tf.sin(
        tf
          .range(0, 3 * 500 * 12)
          .reshape([3, 500, 12])
          .mul(0.013),
      ) as tf.Tensor3D,
  );

  it('drops the channels that carry nothing, folds their constant into the LSTM bias, and predicts the same', async () => {
    const { model, weights } = await source();
    const to = [8, 8, 16 - CONSTANT.length];
    const { kept, importance, weights: pruned } = pruneLastConv(weights, FROM, to, ecg);
    expect(kept).toHaveLength(10);
    // The zeroed channels score exactly 0, and so does every channel dropped (ReLUs the random
    // weights leave dead over this input are constant too, and may go instead of a zeroed one).
    for (const c of CONSTANT) expect(importance[c]).toBe(0);
    for (let c = 0; c < 16; c++) if (!kept.includes(c)) expect(importance[c]).toBe(0);
    const small = createModel('cnn-lstm', 5, { convChannels: to });
    small.params.write(pruned);
    expect(small.params.countTrainable()).toBeLessThan(model.params.countTrainable());
    const reference = predict(model, ecg);
    expect(maxDiff(predict(small, ecg), reference)).toBeLessThan(1e-5);

    // The exported graph reads the narrower channels from the weights and matches the trainer.
    const [graph] = buildGraphs('cnn-lstm', pruned, 'fp32');
    const onnx = await OrtModel.open('cnn-lstm', { model: graph!.bytes });
    const x = toChannelsFirst(ecg.dataSync() as Float32Array, [3, 500, 12]);
    const out = await onnx.predict(x);
    expect(maxDiff(out.data, toChannelsFirst(reference, [3, 500, 75]).data)).toBeLessThan(1e-4);
    await onnx.release();

    // One channel fewer than vary over the data: one that varies goes, and the output changes, so the
    // check above can fail.
    const varying = importance.filter((x) => x > 0).length;
    expect(varying).toBeGreaterThan(1);
    const narrower = createModel('cnn-lstm', 5, { convChannels: [8, 8, varying - 1] });
    narrower.params.write(pruneLastConv(weights, FROM, [8, 8, varying - 1], ecg).weights);
    expect(maxDiff(predict(narrower, ecg), reference)).toBeGreaterThan(1e-4);
    for (const m of [model, small, narrower]) m.dispose();
  });

  it('narrows only the last convolution, to between 1 and its channels', async () => {
    const { model, weights } = await source();
    expect(() => pruneLastConv(weights, FROM, [8, 4, 16], ecg)).toThrow(/only the last convolution/);
    expect(() => pruneLastConv(weights, FROM, [8, 8, 32], ecg)).toThrow(/keep 1 to 16/);
    expect(() => pruneLastConv(weights, FROM, [8, 8], ecg)).toThrow(/only the last convolution/);
    model.dispose();
  });
});
