/**
 * The CNN-LSTM's Conv → BatchNorm → ReLU block: the fused op (cpu/wasm, training) and the three tfjs-op
 * layers (ECG_TMP_CONV=ops) give the same output and queue the same running-statistic updates; outside
 * training both use the running statistics.
 */

import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../backend.ts';
import { batchNormParams, conv1dParams, convBatchNormRelu, ForwardContext } from './layers.ts';
import { ParamSet } from './params.ts';

beforeAll(async () => {
  await startBackend('wasm');
});

afterEach(() => {
  delete process.env.ECG_TMP_CONV;
});

/** One block's output and its queued running mean and variance, fused or as tfjs ops. */
function block(mode: 'fused' | 'ops', training: boolean): Float32Array[] {
  if (mode === 'ops') process.env.ECG_TMP_CONV = 'ops';
  else delete process.env.ECG_TMP_CONV;
  const params = new ParamSet(5);
  const conv = conv1dParams(params, 'conv0', 6, 8, 3);
  const bn = batchNormParams(params, 'bn0', 8);
  const ctx = new ForwardContext(training, 1, 0);
  const x = tf.randomUniform([3, 11, 6], -1, 1, 'float32', 12) as tf.Tensor3D;
  const y = convBatchNormRelu(x, conv, bn, ctx);
  const out = [
    y.dataSync() as Float32Array,
    ...ctx.stateUpdates.map((u) => u.value.dataSync() as Float32Array),
  ];
  expect(ctx.stateUpdates.map((u) => u.variable.name)).toEqual(
    training ? [bn.runningMean.name, bn.runningVar.name] : [],
  );
  tf.dispose([x, y, ...ctx.stateUpdates.map((u) => u.value)]);
  params.dispose();
  return out;
}

describe.each(['cpu', 'wasm'])('convBatchNormRelu on %s', (backend) => {
  it.each([true, false])(
    'training %s: fused equals the tfjs-op layers, running-statistic updates included',
    async (training) => {
      await tf.setBackend(backend);
      const ops = block('ops', training);
      const fused = block('fused', training);
      expect(fused).toHaveLength(training ? 3 : 1);
      fused.forEach((got, i) => {
        const want = ops[i]!;
        let worst = 0;
        let scale = 1e-6;
        for (let j = 0; j < want.length; j++) {
          worst = Math.max(worst, Math.abs(got[j]! - want[j]!));
          scale = Math.max(scale, Math.abs(want[j]!));
        }
        expect(worst / scale, i === 0 ? 'y' : i === 1 ? 'running mean' : 'running variance').toBeLessThan(
          1e-5,
        );
      });
    },
  );
});
