/**
 * @module
 * The CNN-LSTM — 213,835 trainable parameters.
 *
 *   3 × [Conv(k3, 'same') → BatchNorm → ReLU] with 64, 128, 256 channels
 *   LSTM(256 → 64), two bias vectors as in PyTorch/cuDNN, gates in PyTorch order (i, f, g, o)
 *   Linear(64 → 75) at every time step
 *
 * `bidirectional` (a flagged deviation, 205,643 parameters): two LSTMs of 32 (`lstm.*` forward,
 * `lstmBack.*` over the reversed sequence), their states concatenated [forward, backward] before the
 * Linear(64 → 75), so the output at t has read the whole ECG.
 *
 * Written for speed: the LSTM's input projection for all 500 steps is one matMul hoisted out of the
 * recurrence, and the recurrence itself is one op with a hand-written backward pass over typed arrays
 * (lstm-fused.ts; on WebGPU one WGSL dispatch each way, webgpu/lstm.ts) instead of 500 steps × a dozen
 * tfjs kernels. Zero initial state. PyTorch's default
 * inits (U(±1/√fan_in), U(±1/√H) for the LSTM).
 * Tensors are channels-last: [B, T, 12] → [B, T, 75].
 */

import * as tf from '@tensorflow/tfjs-core';
import { webgpuLstmFits, webgpuLstmSequence } from '../webgpu/lstm.ts';
import { onWebgpu } from '../webgpu/program.ts';
import {
  type BatchNorm,
  batchNormParams,
  type Conv1d,
  conv1dParams,
  convBatchNormRelu,
  type ForwardContext,
  linear,
} from './layers.ts';
import { lstmSequence } from './lstm-fused.ts';
import { type ParamSet, torchDefault } from './params.ts';

export const LSTM_HIDDEN = 64;
/** The paper's three convolutions' output channels. */
export const CNN_LSTM_CHANNELS: readonly number[] = [64, 128, 256];

export interface Lstm {
  /** [In, 4H] */
  readonly inputWeight: tf.Variable;
  /** [H, 4H] */
  readonly hiddenWeight: tf.Variable;
  readonly inputBias: tf.Variable;
  readonly hiddenBias: tf.Variable;
}

export interface CnnLstm {
  readonly convs: readonly { conv: Conv1d; bn: BatchNorm }[];
  readonly lstm: Lstm;
  /** The bidirectional variant's LSTM over the reversed sequence. */
  readonly lstmBack?: Lstm;
  readonly out: { weight: tf.Variable; bias: tf.Variable };
}

function lstmParams(params: ParamSet, prefix: string, cin: number, h: number): Lstm {
  const init = torchDefault(h);
  return {
    inputWeight: params.add(`${prefix}.inputWeight`, [cin, 4 * h], init),
    hiddenWeight: params.add(`${prefix}.hiddenWeight`, [h, 4 * h], init),
    inputBias: params.add(`${prefix}.inputBias`, [4 * h], init),
    hiddenBias: params.add(`${prefix}.hiddenBias`, [4 * h], init),
  };
}

export function cnnLstmParams(
  params: ParamSet,
  io: { inChannels: number; outChannels: number },
  bidirectional = false,
  channels: readonly number[] = CNN_LSTM_CHANNELS,
  hidden: number = LSTM_HIDDEN,
): CnnLstm {
  let cin = io.inChannels;
  const convs = channels.map((cout, i) => {
    const layer = {
      conv: conv1dParams(params, `conv${i}`, cin, cout, 3),
      bn: batchNormParams(params, `bn${i}`, cout),
    };
    cin = cout;
    return layer;
  });
  // Bidirectional: half the units each way, so the Linear reads as many features as the paper's.
  const h = bidirectional ? hidden / 2 : hidden;
  return {
    convs,
    lstm: lstmParams(params, 'lstm', cin, h),
    ...(bidirectional ? { lstmBack: lstmParams(params, 'lstmBack', cin, h) } : {}),
    out: {
      weight: params.add('out.weight', [hidden, io.outChannels], torchDefault(hidden)),
      bias: params.add('out.bias', [io.outChannels], torchDefault(hidden)),
    },
  };
}

/** x [B, T, In] → hidden states [B, T, H]. */
export function lstm(cell: Lstm, x: tf.Tensor3D): tf.Tensor3D {
  const projected = linear(x, cell.inputWeight, tf.add(cell.inputBias, cell.hiddenBias));
  const weight = cell.hiddenWeight as tf.Tensor2D;
  // The recurrence is one fused op with a hand-written gradient, because 500 steps of per-step tfjs ops
  // made this layer's speed a matter of launch overhead: kernels over typed arrays on the CPU backends
  // (which read their inputs back, impossible for tfjs-webgpu in Node), one WGSL dispatch each way on
  // WebGPU. A layer wider than one WebGPU workgroup (or ECG_TMP_WEBGPU_KERNELS=stock) keeps the per-step
  // ops there.
  if (tf.getBackend() !== 'webgpu') return lstmSequence(projected, weight);
  return onWebgpu() && webgpuLstmFits(weight.shape[0])
    ? webgpuLstmSequence(projected, weight)
    : lstmSteps(projected, weight);
}

/** The recurrence as per-step tfjs ops (autograd gives the gradient): projected [B, T, 4H] → [B, T, H]. */
export function lstmSteps(projected: tf.Tensor3D, hiddenWeight: tf.Tensor2D): tf.Tensor3D {
  const [b, t] = projected.shape;
  const h = hiddenWeight.shape[0];
  const steps = tf.unstack(tf.transpose(projected, [1, 0, 2])) as tf.Tensor2D[];
  let hidden = tf.zeros([b, h]) as tf.Tensor2D;
  let cellState = tf.zeros([b, h]) as tf.Tensor2D;
  const outputs: tf.Tensor2D[] = [];
  for (let s = 0; s < t; s++) {
    const z = tf.add(steps[s]!, tf.matMul(hidden, hiddenWeight));
    const [zi, zf, zg, zo] = tf.split(z, 4, 1) as tf.Tensor2D[];
    cellState = tf.add(tf.mul(tf.sigmoid(zf!), cellState), tf.mul(tf.sigmoid(zi!), tf.tanh(zg!)));
    hidden = tf.mul(tf.sigmoid(zo!), tf.tanh(cellState));
    outputs.push(hidden);
  }
  return tf.stack(outputs, 1) as tf.Tensor3D;
}

export function cnnLstm(net: CnnLstm, x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
  let h = x;
  for (const { conv, bn } of net.convs) h = convBatchNormRelu(h, conv, bn, ctx);
  if (net.lstmBack === undefined) return linear(lstm(net.lstm, h), net.out.weight, net.out.bias);
  const back = tf.reverse(lstm(net.lstmBack, tf.reverse(h, 1)), 1);
  return linear(tf.concat([lstm(net.lstm, h), back], 2), net.out.weight, net.out.bias);
}
