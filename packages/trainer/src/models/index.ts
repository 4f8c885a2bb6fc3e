/**
 * @module
 * The three architectures behind one interface. Every model reads a normalised ECG and writes a
 * normalised TMP, channels-last: ecg [B, T, 12] → tmp [B, T, 75] (the data pipeline transposes the
 * [B, C, T] signals once). The Transformer reads only the first 10 ECG steps.
 */

import { type Architecture, N_LEADS, N_SITES, N_STEPS } from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { cnnLstm, cnnLstmParams } from './cnn-lstm.ts';
import { ForwardContext, type LayerNorm } from './layers.ts';
import { ParamSet } from './params.ts';
import { squeezeNet1d, squeezeNet1dParams } from './squeezenet1d.ts';
import {
  type EncoderInput,
  type OutputHead,
  SEGMENT,
  transformerDecode,
  transformerEncode,
  transformerParams,
  transformerTeacherForced,
  transformerUnrolled,
} from './transformer.ts';

/** The paper's counts; a test holds each model to its number. */
export const PARAMETER_COUNTS: Readonly<Record<Architecture, number>> = {
  squeezenet1d: 392_907,
  'cnn-lstm': 213_835,
  transformer: 824_731,
};

export interface Model {
  readonly architecture: Architecture;
  readonly params: ParamSet;
  /** ECG steps the model reads: 500 for the CNNs, the first 10 for the Transformer. */
  readonly inputSteps: number | 'all';
  /**
   * The training pass. `vm` (the normalised target) is read only by the Transformer, for teacher
   * forcing. Returns the prediction with the target's shape.
   */
  trainForward(ecg: tf.Tensor3D, vm: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D;
  /**
   * Inference: ecg [B, T, 12] → [B, T, 75]; the Transformer reads the first 10 steps and decodes all 500
   * autoregressively. Call inside tf.tidy.
   */
  predict(ecg: tf.Tensor3D, onSegment?: (segment: tf.Tensor3D, index: number) => void): tf.Tensor3D;
  /**
   * The Transformer only: the free-running decode of all 500 steps as a training pass, differentiable
   * through the predictions each step is fed (transformerUnrolled).
   */
  unrolledForward?(ecg: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D;
  /** The Transformer only: segment 0 and the encoder memory, in inference mode (transformerEncode). */
  encode?(ecg: tf.Tensor3D): { segment0: tf.Tensor3D; memory: tf.Tensor3D };
  /**
   * The Transformer only, a probe: predict() with cross-attention reading the encoder memory of
   * `memoryEcg` (same batch size) instead of `ecg`'s — how much the decoder reads the memory at all.
   */
  predictWithMemoryOf?(ecg: tf.Tensor3D, memoryEcg: tf.Tensor3D): tf.Tensor3D;
  /** The LayerNorm whose output is the prediction itself (the Transformer's last decoder norm), if any. */
  readonly outputNorm?: LayerNorm;
  dispose(): void;
}

/**
 * A fresh model. `outputHead` 'projection' is the Transformer's measured deviation (a 75 → 75 layer after
 * the last decoder norm, 830,431 parameters); 'norm', the default, is the paper's. `lookahead` L (CNN-LSTM
 * only, default 0) lets the causal LSTM see L ms of ECG past each instant with the paper's parameters:
 * the ECG is padded with L zero steps at its end and the output's first L steps are dropped, so the
 * output at time t is written after reading the ECG up to t + L (+ the convolutions' 3 ms). `bidirectional`
 * (CNN-LSTM only) is the deviation with an LSTM of 32 each way (cnn-lstm.ts).
 */
export function createModel(
  architecture: Architecture,
  seed: number,
  options: {
    outputHead?: OutputHead;
    lookahead?: number;
    bidirectional?: boolean;
    encoderInput?: EncoderInput;
    convChannels?: readonly number[];
    /** CNN-LSTM only: the LSTM's hidden units (the paper's 64; both directions together when bidirectional). */
    lstmHidden?: number;
  } = {},
): Model {
  const outputHead = options.outputHead ?? 'norm';
  if (outputHead !== 'norm' && architecture !== 'transformer') {
    throw new Error(`outputHead '${outputHead}' applies to the transformer only`);
  }
  const lookahead = options.lookahead ?? 0;
  if (!Number.isInteger(lookahead) || lookahead < 0)
    throw new Error(`lookahead must be an integer ≥ 0, got ${lookahead}`);
  if (lookahead > 0 && architecture !== 'cnn-lstm') throw new Error('lookahead applies to the cnn-lstm only');
  const bidirectional = options.bidirectional ?? false;
  if (bidirectional && architecture !== 'cnn-lstm')
    throw new Error('bidirectional applies to the cnn-lstm only');
  const ahead =
    (f: (ecg: tf.Tensor3D) => tf.Tensor3D) =>
    (ecg: tf.Tensor3D): tf.Tensor3D => {
      if (lookahead === 0) return f(ecg);
      const [b, t] = ecg.shape;
      const y = f(
        tf.pad(ecg, [
          [0, 0],
          [0, lookahead],
          [0, 0],
        ]),
      );
      return tf.slice(y, [0, lookahead, 0], [b, t, y.shape[2]]);
    };
  const params = new ParamSet(seed);
  const io = { inChannels: N_LEADS, outChannels: N_SITES };
  const base = { architecture, params, dispose: () => params.dispose() };
  switch (architecture) {
    case 'squeezenet1d': {
      const net = squeezeNet1dParams(params, '', io);
      return {
        ...base,
        inputSteps: 'all',
        trainForward: (ecg, _vm, ctx) => squeezeNet1d(net, ecg, ctx),
        predict: (ecg, onSegment) => once(squeezeNet1d(net, ecg, ForwardContext.inference()), onSegment),
      };
    }
    case 'cnn-lstm': {
      const net = cnnLstmParams(params, io, bidirectional, options.convChannels, options.lstmHidden);
      return {
        ...base,
        inputSteps: 'all',
        trainForward: (ecg, _vm, ctx) => ahead((x) => cnnLstm(net, x, ctx))(ecg),
        predict: (ecg, onSegment) =>
          once(ahead((x) => cnnLstm(net, x, ForwardContext.inference()))(ecg), onSegment),
      };
    }
    case 'transformer': {
      const net = transformerParams(params, io, outputHead, options.encoderInput ?? 'prediction');
      return {
        ...base,
        inputSteps: SEGMENT,
        trainForward: (ecg, vm, ctx) => transformerTeacherForced(net, ecg, vm, ctx),
        predict: (ecg, onSegment) => transformerDecode(net, ecg, N_STEPS, onSegment),
        predictWithMemoryOf: (ecg, memoryEcg) => transformerDecode(net, ecg, N_STEPS, undefined, memoryEcg),
        unrolledForward: (ecg, ctx) => transformerUnrolled(net, ecg, N_STEPS, ctx),
        encode: (ecg) => transformerEncode(net, ecg),
        outputNorm: net.decoder[net.decoder.length - 1]!.norm3,
      };
    }
  }
}

function once(y: tf.Tensor3D, onSegment?: (segment: tf.Tensor3D, index: number) => void): tf.Tensor3D {
  onSegment?.(y, 0);
  return y;
}
