/**
 * @module
 * The 1-D CNN baseline: SqueezeNet 1.1 made one-dimensional — 392,907 trainable parameters.
 *
 *   Conv(12→64, k3) → ReLU → MaxPool(k3, s1, p1)
 *   Fire(64; 16; 64+64)   Fire(128; 16; 64+64)   → MaxPool
 *   Fire(128; 32; 128+128) Fire(256; 32; 128+128) → MaxPool
 *   Fire(256; 48; 192+192) Fire(384; 48; 192+192) Fire(384; 64; 256+256) Fire(512; 64; 256+256)
 *   Dropout → Conv(512→75, k1)
 * Fire(in; s; e+e): squeeze Conv(in→s, k1) + ReLU, then Conv(s→e, k1) + ReLU and Conv(s→e, k3) + ReLU,
 * concatenated along channels.
 *
 * Choices the paper leaves open (none changes the count):
 *   - stride 1 and 'same' padding everywhere, so the length stays 500 (or 10 inside the Transformer);
 *   - no activation after the last convolution: the output is a regression target that goes negative;
 *   - Kaiming-uniform weights and zero biases for every convolution, the last one included;
 *   - dropout rate 0 in the reference training, kept as a parameter.
 * Tensors are channels-last: [B, T, 12] → [B, T, 75].
 */

import type * as tf from '@tensorflow/tfjs-core';
import {
  type Conv1d,
  conv1d,
  conv1dParams,
  convolutions,
  type ForwardContext,
  kaimingConv,
  maxPool3,
} from './layers.ts';
import type { ParamSet } from './params.ts';

interface Fire {
  readonly squeeze: Conv1d;
  readonly expand1: Conv1d;
  readonly expand3: Conv1d;
}

/** [in, squeeze, expand] of the eight Fire modules, in order (the ONNX export builds the same). */
export const FIRES = [
  [64, 16, 64],
  [128, 16, 64],
  [128, 32, 128],
  [256, 32, 128],
  [256, 48, 192],
  [384, 48, 192],
  [384, 64, 256],
  [512, 64, 256],
] as const;

/** Max-pooling follows the stem and the Fire modules at these indices. */
export const POOL_AFTER_FIRE: ReadonlySet<number> = new Set([1, 3]);

export interface SqueezeNet1d {
  readonly stem: Conv1d;
  readonly fires: readonly Fire[];
  readonly head: Conv1d;
  readonly dropout: number;
}

export function squeezeNet1dParams(
  params: ParamSet,
  prefix: string,
  io: { inChannels: number; outChannels: number },
  dropout = 0,
): SqueezeNet1d {
  const conv = (name: string, cin: number, cout: number, k: number) =>
    conv1dParams(params, `${prefix}${name}`, cin, cout, k, kaimingConv(cin, k));
  return {
    stem: conv('stem', io.inChannels, 64, 3),
    fires: FIRES.map(([cin, s, e], i) => ({
      squeeze: conv(`fire${i}.squeeze`, cin, s, 1),
      expand1: conv(`fire${i}.expand1`, s, e, 1),
      expand3: conv(`fire${i}.expand3`, s, e, 3),
    })),
    head: conv('head', 512, io.outChannels, 1),
    dropout,
  };
}

/** x [B, T, Cin] → [B, T, Cout]. */
export function squeezeNet1d(net: SqueezeNet1d, x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
  let h = maxPool3(conv1d(x, net.stem, { relu: true }));
  net.fires.forEach((fire, i) => {
    const s = conv1d(h, fire.squeeze, { relu: true });
    // Both expands in one op on cpu/wasm: one copy of s, each written into its half of h.
    h = convolutions(s, [fire.expand1, fire.expand3], { relu: true });
    if (POOL_AFTER_FIRE.has(i)) h = maxPool3(h);
  });
  return conv1d(ctx.dropout(h, net.dropout), net.head);
}
