/**
 * @module
 * The layers the three models are built from, over channels-last tensors [batch, time, channels]:
 *   - a 1-D convolution is, on the cpu and wasm backends, one fused op with a hand-written gradient
 *     computed as implicit GEMMs on our WebAssembly SIMD engine (gemm/conv1d.ts; bias and ReLU in the
 *     GEMM, several convolutions of one input written side by side without a concat); elsewhere (and
 *     with ECG_TMP_CONV=ops) a matMul over k shifted views of the padded input (im2col along time) —
 *     which needs no Conv2DBackpropFilter, which tfjs-backend-wasm does not register;
 *   - max-pooling (k3, s1, p1) is one fused op on cpu/wasm (gemm/maxpool.ts), elsewhere the maximum of
 *     three shifted views;
 *   - BatchNorm, LayerNorm and dropout are written out, with dropout masks drawn from our own seeded
 *     generator so a step's masks are identical on every backend and after a resume.
 */

import { samplePrng } from '@ecg-tmp/simulator';
import * as tf from '@tensorflow/tfjs-core';
import { conv1dFused, fusedConvAvailable } from '../gemm/conv1d.ts';
import { maxPool3Fused } from '../gemm/maxpool.ts';
import { constant, type Init, kaimingUniform, type ParamSet, torchDefault } from './params.ts';

/** What one forward pass needs besides its inputs. */
export class ForwardContext {
  /** Running-statistic updates computed by this pass, applied by the trainer after the step. */
  readonly stateUpdates: { variable: tf.Variable; value: tf.Tensor }[] = [];
  /** Extra loss terms this pass added (regularisers), summed into the training loss by the trainer. */
  readonly extraLosses: tf.Scalar[] = [];
  /**
   * Weight of the Transformer's memory-variance term (--memory-variance; 0 = off): a training pass adds
   * λ · mean(max(0, 1 − std over the batch)) of each encoder-memory value (encode() in transformer.ts).
   */
  memoryVariance = 0;
  #dropoutCalls = 0;

  /**
   * @param training  dropout on, BatchNorm on batch statistics
   * @param seed      run seed
   * @param step      global optimiser step: masks are a pure function of (seed, step, call order)
   */
  constructor(
    readonly training: boolean,
    readonly seed = 0,
    readonly step = 0,
  ) {}

  static inference(): ForwardContext {
    return new ForwardContext(false);
  }

  /** Inverted dropout: keeps each value with probability 1−rate and scales it by 1/(1−rate). */
  dropout<T extends tf.Tensor>(x: T, rate: number): T {
    if (!this.training || rate === 0) return x;
    const rng = samplePrng(this.seed, this.step, 1000 + this.#dropoutCalls++);
    const mask = new Float32Array(x.size);
    const scale = 1 / (1 - rate);
    for (let i = 0; i < mask.length; i++) mask[i] = rng.next() >= rate ? scale : 0;
    return tf.mul(x, tf.tensor(mask, x.shape)) as T;
  }

  /** Applies the queued state updates (outside any gradient tape) and frees them. */
  applyStateUpdates(): void {
    for (const { variable, value } of this.stateUpdates.splice(0)) {
      variable.assign(value);
      value.dispose();
    }
  }
}

/** A 'same'-padded, stride-1 convolution along time; weight [k·Cin, Cout] with rows ordered tap-major. */
export interface Conv1d {
  readonly kernel: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
}

export function conv1dParams(
  params: ParamSet,
  name: string,
  inChannels: number,
  outChannels: number,
  kernel: number,
  init: { weight: Init; bias: Init } = {
    weight: torchDefault(inChannels * kernel),
    bias: torchDefault(inChannels * kernel),
  },
): Conv1d {
  return {
    kernel,
    weight: params.add(`${name}.weight`, [kernel * inChannels, outChannels], init.weight),
    bias: params.add(`${name}.bias`, [outChannels], init.bias),
  };
}

/** SqueezeNet's init: Kaiming-uniform weights, zero bias. */
export function kaimingConv(inChannels: number, kernel: number): { weight: Init; bias: Init } {
  return { weight: kaimingUniform(inChannels * kernel), bias: constant(0) };
}

/** k shifted views of x (zero-padded at both ends), side by side along channels: [B, T, k·C]. */
export function shiftedViews(x: tf.Tensor3D, kernel: number): tf.Tensor3D {
  if (kernel === 1) return x;
  const [b, t, c] = x.shape;
  const pad = (kernel - 1) / 2;
  const padded = tf.pad(x, [
    [0, 0],
    [pad, pad],
    [0, 0],
  ]);
  const views: tf.Tensor3D[] = [];
  for (let j = 0; j < kernel; j++) views.push(tf.slice(padded, [0, j, 0], [b, t, c]));
  return tf.concat(views, 2);
}

/** x [B, T, Cin] → [B, T, Cout], then the ReLU if asked. */
export function conv1d(x: tf.Tensor3D, conv: Conv1d, options: { relu?: boolean } = {}): tf.Tensor3D {
  return convolutions(x, [conv], options);
}

/** Several convolutions of x side by side along channels: [B, T, Cin] → [B, T, ΣCout], then the ReLU if asked. */
export function convolutions(
  x: tf.Tensor3D,
  convs: readonly Conv1d[],
  options: { relu?: boolean } = {},
): tf.Tensor3D {
  if (fusedConvAvailable()) return conv1dFused(x, convs, options);
  const ys = convs.map((conv) => {
    const y = linear(shiftedViews(x, conv.kernel), conv.weight, conv.bias);
    return options.relu ? tf.relu(y) : y;
  });
  return ys.length === 1 ? ys[0]! : tf.concat(ys, 2);
}

/** x [..., In] · W [In, Out] + b. */
export function linear<T extends tf.Tensor>(x: T, weight: tf.Tensor, bias: tf.Tensor): T {
  const inner = x.shape[x.rank - 1]!;
  const outer = x.shape.slice(0, -1);
  const flat = tf.reshape(x, [-1, inner]) as tf.Tensor2D;
  const y = tf.add(tf.matMul(flat, weight as tf.Tensor2D), bias);
  return tf.reshape(y, [...outer, weight.shape[1]!]) as T;
}

/** Max-pooling over time with kernel 3, stride 1, padding 1: length is kept (one fused op on cpu/wasm). */
export function maxPool3(x: tf.Tensor3D): tf.Tensor3D {
  // ECG_TMP_CONV=conv-only keeps this on tfjs ops, to measure what the fused pooling buys.
  if (fusedConvAvailable() && process.env.ECG_TMP_CONV !== 'conv-only' && x.shape[2] % 4 === 0) {
    return maxPool3Fused(x);
  }
  return maxPool3Ops(x);
}

/** MaxPool(k3, s1, p1) in tfjs ops: pad with −∞, then the largest of each step and its neighbours. */
export function maxPool3Ops(x: tf.Tensor3D): tf.Tensor3D {
  const [b, t, c] = x.shape;
  const padded = tf.pad(
    x,
    [
      [0, 0],
      [1, 1],
      [0, 0],
    ],
    -3.4e38,
  );
  const left = tf.slice(padded, [0, 0, 0], [b, t, c]);
  const right = tf.slice(padded, [0, 2, 0], [b, t, c]);
  return tf.maximum(tf.maximum(left, x), right);
}

export interface BatchNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
}

export function batchNormParams(params: ParamSet, name: string, channels: number): BatchNorm {
  return {
    gamma: params.add(`${name}.weight`, [channels], constant(1)),
    beta: params.add(`${name}.bias`, [channels], constant(0)),
    runningMean: params.add(`${name}.runningMean`, [channels], constant(0), false),
    runningVar: params.add(`${name}.runningVar`, [channels], constant(1), false),
  };
}

const BN_EPS = 1e-5;
/** PyTorch's convention: running = (1 − m)·running + m·batch, with the unbiased batch variance. */
const BN_MOMENTUM = 0.1;

/** BatchNorm over batch and time of x [B, T, C]: batch statistics in training, running ones otherwise. */
export function batchNorm(x: tf.Tensor3D, bn: BatchNorm, ctx: ForwardContext): tf.Tensor3D {
  let mean: tf.Tensor;
  let variance: tf.Tensor;
  if (ctx.training) {
    ({ mean, variance } = tf.moments(x, [0, 1]));
    const n = x.shape[0] * x.shape[1];
    const unbiased = tf.mul(variance, n / Math.max(1, n - 1));
    ctx.stateUpdates.push(
      {
        variable: bn.runningMean,
        value: tf.keep(tf.add(tf.mul(bn.runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM))),
      },
      {
        variable: bn.runningVar,
        value: tf.keep(tf.add(tf.mul(bn.runningVar, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM))),
      },
    );
  } else {
    mean = bn.runningMean;
    variance = bn.runningVar;
  }
  const scale = tf.mul(tf.rsqrt(tf.add(variance, BN_EPS)), bn.gamma);
  return tf.add(tf.mul(tf.sub(x, mean), scale), bn.beta);
}

/**
 * Conv → BatchNorm → ReLU (the CNN-LSTM's block). In training on cpu/wasm one fused op (batch statistics
 * and the BatchNorm's gradient inside the convolution's, gemm/conv1d.ts); otherwise the three layers.
 */
export function convBatchNormRelu(
  x: tf.Tensor3D,
  conv: Conv1d,
  bn: BatchNorm,
  ctx: ForwardContext,
): tf.Tensor3D {
  if (!ctx.training || !fusedConvAvailable()) return tf.relu(batchNorm(conv1d(x, conv), bn, ctx));
  let stats: { mean: Float32Array; variance: Float32Array } | undefined;
  const y = conv1dFused(x, [conv], {
    relu: true,
    batchNorm: {
      gamma: bn.gamma,
      beta: bn.beta,
      eps: BN_EPS,
      onStatistics: (mean, variance) => {
        stats = { mean, variance };
      },
    },
  });
  const { mean, variance } = stats!;
  ctx.stateUpdates.push(
    {
      variable: bn.runningMean,
      value: tf.keep(
        tf.tidy(() =>
          tf.add(tf.mul(bn.runningMean, 1 - BN_MOMENTUM), tf.mul(tf.tensor1d(mean), BN_MOMENTUM)),
        ),
      ),
    },
    {
      variable: bn.runningVar,
      value: tf.keep(
        tf.tidy(() =>
          tf.add(tf.mul(bn.runningVar, 1 - BN_MOMENTUM), tf.mul(tf.tensor1d(variance), BN_MOMENTUM)),
        ),
      ),
    },
  );
  return y;
}

export interface LayerNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
}

export function layerNormParams(params: ParamSet, name: string, features: number): LayerNorm {
  return {
    gamma: params.add(`${name}.weight`, [features], constant(1)),
    beta: params.add(`${name}.bias`, [features], constant(0)),
  };
}

const LN_EPS = 1e-5;

/** LayerNorm over the last axis. */
export function layerNorm<T extends tf.Tensor>(x: T, ln: LayerNorm): T {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LN_EPS))), ln.gamma), ln.beta);
}

/** Vaswani et al.'s sine/cosine table [length, d]: even features sin(p/10000^(i/d)), odd ones cos. */
export function positionalEncoding(length: number, d: number): Float32Array {
  const table = new Float32Array(length * d);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < d; i++) {
      const even = i - (i % 2);
      const angle = p / 10000 ** (even / d);
      table[p * d + i] = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return table;
}
