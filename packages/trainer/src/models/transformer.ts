/**
 * @module
 * The Transformer encoder-decoder — 824,731 trainable parameters.
 *
 *   input layer  the SqueezeNet-1D network (392,907) maps the 12×10 ECG segment to segment 0: 10 tokens
 *                of d_model = 75 (one token per time step, one feature per recording site)
 *   encoder      segment 0 + sine/cosine positions (dropout 0.1) → 4 post-norm layers
 *                (self-attention, 75 heads of width 1; feed-forward 128; dropout 0.2) = 42,503 each
 *   decoder      4 post-norm layers (causal self-attention, cross-attention to the encoder memory,
 *                feed-forward 128; dropout 0.2) = 65,453 each; no final norm, no output projection:
 *                the decoder's output tokens are the TMP vectors themselves
 *
 * Training (teacher forcing): the decoder reads the true Vm tokens 0..489 (+ positions) under a causal
 * mask and its output token i predicts token i + 10; the prediction is [segment 0; outputs] = 500 steps.
 * Inference (the paper's protocol): from the first 10 ECG steps only, segment 0 is predicted, then the
 * decoder runs 49 times, each time on the 10 newest tokens with a key/value cache of the earlier ones,
 * appending its 10 outputs. With a causal mask and per-token post-norm layers this is exactly the
 * uncached decode on the growing prefix (10, 20, …, 490 tokens), at ~1/20 of the FLOPs.
 *
 * A measured deviation, off by default (outputHead 'projection', +5,700 parameters = 830,431): a linear
 * layer 75 → 75 after the last decoder norm, starting as the identity, so the prediction is no longer
 * confined to γ ⊙ z + β with z normalised across sites (docs/results.md, part 1).
 *
 * Choices the paper leaves open: ReLU in the feed-forward (PyTorch's default); PyTorch's
 * nn.MultiheadAttention inits (Xavier-uniform in-projection, zero in/out biases) and Linear inits;
 * positional dropout also on the decoder input. Tensors are channels-last [B, T, C].
 */

import * as tf from '@tensorflow/tfjs-core';
import { attention } from './attention.ts';
import {
  ForwardContext,
  type LayerNorm,
  layerNorm,
  layerNormParams,
  linear,
  positionalEncoding,
} from './layers.ts';
import { constant, identity, type ParamSet, torchDefault, xavierUniform } from './params.ts';
import { type SqueezeNet1d, squeezeNet1d, squeezeNet1dParams } from './squeezenet1d.ts';

export const SEGMENT = 10;
export const D_MODEL = 75;
const FEED_FORWARD = 128;
const LAYERS = 4;
const POSITION_DROPOUT = 0.1;
const LAYER_DROPOUT = 0.2;

interface Dense {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
}

interface MultiHead {
  /** [E, 3E]: query, key and value projections side by side. */
  readonly inProj: Dense;
  readonly outProj: Dense;
}

interface EncoderLayer {
  readonly selfAttn: MultiHead;
  readonly ff1: Dense;
  readonly ff2: Dense;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
}

interface DecoderLayer extends EncoderLayer {
  readonly crossAttn: MultiHead;
  readonly norm3: LayerNorm;
}

/** What follows the last decoder layer: nothing (the paper's) or a 75 → 75 projection. */
export const OUTPUT_HEADS = ['norm', 'projection'] as const;
export type OutputHead = (typeof OUTPUT_HEADS)[number];

/**
 * What the input layer's output is. 'prediction' (the scheme of shared/paper.md): TMP steps 0–9, scored
 * by the loss like every other segment, and the encoder's only input — so the encoder reads a
 * prediction of the (mostly resting) first 10 ms of TMP. 'embedding' (a deviation, the same 824,731
 * parameters): no target of its own; it is the encoder's input and the decoder's 10 start tokens, and
 * the decoder predicts segment 0 too (50 decoder steps instead of 49).
 */
export const ENCODER_INPUTS = ['prediction', 'embedding'] as const;
export type EncoderInput = (typeof ENCODER_INPUTS)[number];

export interface Transformer {
  readonly input: SqueezeNet1d;
  readonly encoder: readonly EncoderLayer[];
  readonly decoder: readonly DecoderLayer[];
  /** outputHead 'projection' only. */
  readonly head?: Dense;
  /** encoderInput 'embedding': the input layer's output opens the decoder's sequence as 10 start tokens. */
  readonly startTokens: boolean;
}

function dense(params: ParamSet, name: string, fanIn: number, fanOut: number): Dense {
  return {
    weight: params.add(`${name}.weight`, [fanIn, fanOut], xavierUniform(fanIn, fanOut)),
    bias: params.add(`${name}.bias`, [fanOut], torchDefault(fanIn)),
  };
}

function multiHead(params: ParamSet, name: string): MultiHead {
  const e = D_MODEL;
  return {
    inProj: {
      // PyTorch initialises the [3E, E] in-projection as one matrix: fan_in E, fan_out 3E.
      weight: params.add(`${name}.inProj.weight`, [e, 3 * e], xavierUniform(e, 3 * e)),
      bias: params.add(`${name}.inProj.bias`, [3 * e], constant(0)),
    },
    outProj: {
      weight: params.add(`${name}.outProj.weight`, [e, e], xavierUniform(e, e)),
      bias: params.add(`${name}.outProj.bias`, [e], constant(0)),
    },
  };
}

export function transformerParams(
  params: ParamSet,
  io: { inChannels: number },
  outputHead: OutputHead = 'norm',
  encoderInput: EncoderInput = 'prediction',
): Transformer {
  const layer = (name: string) => ({
    selfAttn: multiHead(params, `${name}.selfAttn`),
    ff1: dense(params, `${name}.ff1`, D_MODEL, FEED_FORWARD),
    ff2: dense(params, `${name}.ff2`, FEED_FORWARD, D_MODEL),
    norm1: layerNormParams(params, `${name}.norm1`, D_MODEL),
    norm2: layerNormParams(params, `${name}.norm2`, D_MODEL),
  });
  return {
    input: squeezeNet1dParams(params, 'input.', { inChannels: io.inChannels, outChannels: D_MODEL }),
    encoder: Array.from({ length: LAYERS }, (_, i) => layer(`encoder${i}`)),
    decoder: Array.from({ length: LAYERS }, (_, i) => ({
      ...layer(`decoder${i}`),
      crossAttn: multiHead(params, `decoder${i}.crossAttn`),
      norm3: layerNormParams(params, `decoder${i}.norm3`, D_MODEL),
    })),
    startTokens: encoderInput === 'embedding',
    // Created last, so the paper-exact parameters draw the same initial values with or without it.
    ...(outputHead === 'projection'
      ? {
          head: {
            weight: params.add('head.weight', [D_MODEL, D_MODEL], identity),
            bias: params.add('head.bias', [D_MODEL], constant(0)),
          },
        }
      : {}),
  };
}

/** The decoder's last output tokens → the predicted TMP tokens. */
function outputTokens(net: Transformer, x: tf.Tensor3D): tf.Tensor3D {
  return net.head === undefined ? x : linear(x, net.head.weight, net.head.bias);
}

/**
 * Projected queries, keys and values; keys/values may come from another sequence (cross-attention).
 * One product per part with its slice of the [E, 3E] weight: a product of the whole and a split of its
 * output cost a read-back of [B, T, 2E] on wasm (tfjs-wasm's SplitV reads its input into JavaScript).
 */
function project(mh: MultiHead, x: tf.Tensor3D, part: 'q' | 'kv'): tf.Tensor3D[] {
  const e = D_MODEL;
  const parts = part === 'q' ? [0] : [e, 2 * e];
  return parts.map((from) =>
    linear(x, tf.slice(mh.inProj.weight, [0, from], [e, e]), tf.slice(mh.inProj.bias, [from], [e])),
  );
}

/** Key/value projections of a sequence, cached across decoding steps. */
interface KeyValues {
  k: tf.Tensor3D;
  v: tf.Tensor3D;
}

function attend(mh: MultiHead, x: tf.Tensor3D, kv: KeyValues, causal: boolean): tf.Tensor3D {
  const [q] = project(mh, x, 'q');
  return linear(attention(q!, kv.k, kv.v, { causal }), mh.outProj.weight, mh.outProj.bias);
}

function keyValues(mh: MultiHead, x: tf.Tensor3D): KeyValues {
  const [k, v] = project(mh, x, 'kv');
  return { k: k!, v: v! };
}

function feedForward(layer: EncoderLayer, x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
  const h = ctx.dropout(tf.relu(linear(x, layer.ff1.weight, layer.ff1.bias)), LAYER_DROPOUT);
  return linear(h, layer.ff2.weight, layer.ff2.bias);
}

/** Post-norm residual: LayerNorm(x + dropout(y)). */
function addNorm(x: tf.Tensor3D, y: tf.Tensor3D, ln: LayerNorm, ctx: ForwardContext): tf.Tensor3D {
  return layerNorm(tf.add(x, ctx.dropout(y, LAYER_DROPOUT)) as tf.Tensor3D, ln);
}

function encoderLayer(layer: EncoderLayer, x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
  const h = addNorm(x, attend(layer.selfAttn, x, keyValues(layer.selfAttn, x), false), layer.norm1, ctx);
  return addNorm(h, feedForward(layer, h, ctx), layer.norm2, ctx);
}

/**
 * One decoder layer over new tokens x [B, n, E]. `selfKv` holds the keys/values of every token so far,
 * these n included (causal: token i sees tokens ≤ i); `memoryKv` those of the encoder memory.
 */
function decoderLayer(
  layer: DecoderLayer,
  x: tf.Tensor3D,
  selfKv: KeyValues,
  memoryKv: KeyValues,
  ctx: ForwardContext,
): tf.Tensor3D {
  let h = addNorm(x, attend(layer.selfAttn, x, selfKv, true), layer.norm1, ctx);
  h = addNorm(h, attend(layer.crossAttn, h, memoryKv, false), layer.norm2, ctx);
  return addNorm(h, feedForward(layer, h, ctx), layer.norm3, ctx);
}

const positionCache = new Map<number, tf.Tensor2D>();

/** Positions [from, from+n) as a [n, E] tensor (the table is built once, kept for the process). */
function positions(from: number, n: number): tf.Tensor2D {
  const total = from + n;
  let table = [...positionCache.entries()].find(([len]) => len >= total)?.[1];
  if (table === undefined) {
    table = tf.keep(
      tf.tensor2d(positionalEncoding(Math.max(total, 500), D_MODEL), [Math.max(total, 500), D_MODEL]),
    );
    positionCache.set(table.shape[0], table);
  }
  return tf.slice(table, [from, 0], [n, D_MODEL]);
}

function withPositions(x: tf.Tensor3D, from: number, ctx: ForwardContext): tf.Tensor3D {
  return ctx.dropout(tf.add(x, positions(from, x.shape[1])), POSITION_DROPOUT);
}

/** Segment 0 and the encoder memory from the first 10 ECG steps [B, 10, 12]. */
/**
 * The encoder side alone, in inference mode: segment 0 (the input layer's prediction of TMP steps 0–9,
 * [B, 10, 75]) and the encoder memory over it ([B, 10, 75]) that every decoder step attends to — all the
 * decoder ever learns of the ECG. For probes of what they carry. Call inside tf.tidy.
 */
export function transformerEncode(
  net: Transformer,
  ecg: tf.Tensor3D,
): { segment0: tf.Tensor3D; memory: tf.Tensor3D } {
  return encode(net, ecg, ForwardContext.inference());
}

function encode(
  net: Transformer,
  ecg: tf.Tensor3D,
  ctx: ForwardContext,
): { segment0: tf.Tensor3D; memory: tf.Tensor3D } {
  const [b, t, c] = ecg.shape;
  const first = t === SEGMENT ? ecg : tf.slice(ecg, [0, 0, 0], [b, SEGMENT, c]);
  const segment0 = squeezeNet1d(net.input, first, ctx);
  let memory = withPositions(segment0, 0, ctx);
  for (const layer of net.encoder) memory = encoderLayer(layer, memory, ctx);
  if (ctx.training && ctx.memoryVariance > 0 && b > 1)
    ctx.extraLosses.push(memoryVarianceLoss(memory, ctx.memoryVariance));
  return { segment0, memory };
}

/**
 * The memory-variance term (a training regulariser, no parameters): λ · mean over the memory's values
 * [10, 75] of max(0, 1 − their standard deviation across the batch). Cross-attention is the decoder's
 * only view of the ECG past its first tokens; when every ECG gives the same memory (measured: std across
 * ECGs 2e-5 in the stable, bench:memory-swap) the decoder has nothing to read, and this term is what
 * keeps the memory from collapsing to a constant — VICReg's variance term on the encoder's output.
 */
export function memoryVarianceLoss(memory: tf.Tensor3D, weight: number): tf.Scalar {
  // No tf.tidy: this runs under the gradient tape, which needs the intermediates.
  const { variance } = tf.moments(memory, 0);
  const std = tf.sqrt(tf.add(variance, 1e-4));
  return tf.mul(tf.mean(tf.relu(tf.sub(1, std))), weight) as tf.Scalar;
}

/**
 * Teacher-forced training pass: ecg [B, ≥10, 12] (only the first 10 steps are read) and the true
 * tokens vm [B, 500, 75] → prediction [B, 500, 75].
 */
export function transformerTeacherForced(
  net: Transformer,
  ecg: tf.Tensor3D,
  vm: tf.Tensor3D,
  ctx: ForwardContext,
): tf.Tensor3D {
  const { segment0, memory } = encode(net, ecg, ctx);
  const [b, t] = vm.shape;
  const past = tf.slice(vm, [0, 0, 0], [b, t - SEGMENT, D_MODEL]);
  // With start tokens the decoder reads [start; vm 0…t−11] and predicts vm 0…t−1; else it reads vm
  // 0…t−11 and predicts vm 10…t−1, segment 0 being the input layer's.
  let x = withPositions(net.startTokens ? tf.concat([segment0, past], 1) : past, 0, ctx);
  for (const layer of net.decoder) {
    x = decoderLayer(layer, x, keyValues(layer.selfAttn, x), keyValues(layer.crossAttn, memory), ctx);
  }
  if (net.startTokens) return tf.slice(outputTokens(net, x), [0, 0, 0], [b, t, D_MODEL]);
  return tf.concat([segment0, outputTokens(net, x)], 1);
}

/**
 * Autoregressive reconstruction from the first 10 ECG steps: ecg [B, ≥10, 12] → [B, steps, 75].
 * `onSegment` sees each 10-step segment as soon as it exists.
 */
/**
 * The free-running decode as a training pass: the same steps as transformerDecode (the encoder on the
 * first 10 ECG steps, then each 10-token segment predicted from the ones before it through the growing
 * self-attention cache), but under `ctx` (dropout in training) and with every tensor left for the
 * gradient tape, so the loss on the reconstruction reaches each step through the predictions it was
 * fed: backpropagation through the 50 decoding steps, which teacher forcing and scheduled sampling
 * (whose sampled tokens are constants) never do. Call inside tf.tidy or tf.variableGrads.
 */
export function transformerUnrolled(
  net: Transformer,
  ecg: tf.Tensor3D,
  steps: number,
  ctx: ForwardContext,
): tf.Tensor3D {
  if (steps % SEGMENT !== 0) throw new Error(`decode length ${steps} is not a multiple of ${SEGMENT}`);
  const { segment0, memory } = encode(net, ecg, ctx);
  const memoryKv = net.decoder.map((layer) => keyValues(layer.crossAttn, memory));
  // With start tokens the first decoder input is the embedding, which is not part of the output.
  const segments = [segment0];
  const first = net.startTokens ? 1 : 0;
  let selfKv: KeyValues[] = [];
  for (let from = 0; from + SEGMENT < steps + first * SEGMENT; from += SEGMENT) {
    let x = withPositions(segments[segments.length - 1]!, from, ctx);
    selfKv = net.decoder.map((layer, i) => {
      const fresh = keyValues(layer.selfAttn, x);
      const prev = selfKv[i];
      const kv =
        prev === undefined
          ? fresh
          : { k: tf.concat([prev.k, fresh.k], 1), v: tf.concat([prev.v, fresh.v], 1) };
      x = decoderLayer(layer, x, kv, memoryKv[i]!, ctx);
      return kv;
    });
    segments.push(outputTokens(net, x));
  }
  return tf.concat(segments.slice(first), 1);
}

export function transformerDecode(
  net: Transformer,
  ecg: tf.Tensor3D,
  steps: number,
  onSegment?: (segment: tf.Tensor3D, index: number) => void,
  memoryEcg?: tf.Tensor3D,
): tf.Tensor3D {
  if (steps % SEGMENT !== 0) throw new Error(`decode length ${steps} is not a multiple of ${SEGMENT}`);
  const ctx = ForwardContext.inference();
  const [segment0, ...memoryKv] = tf.tidy(() => {
    const { segment0, memory: own } = encode(net, ecg, ctx);
    // A probe: cross-attention reads the memory of other ECGs (memoryEcg), the rest is this ECG's.
    const memory = memoryEcg === undefined ? own : encode(net, memoryEcg, ctx).memory;
    return [segment0, ...net.decoder.flatMap((layer) => Object.values(keyValues(layer.crossAttn, memory)))];
  });
  const segments = [segment0!];
  // With start tokens segment0 is the embedding the decoder starts from, not an output segment.
  const first = net.startTokens ? 1 : 0;
  if (!net.startTokens) onSegment?.(segment0!, 0);
  // The self-attention cache grows by 10 tokens per step; each step's tidy keeps only the new cache.
  let selfKv: tf.Tensor3D[] = [];
  for (let from = 0; from + SEGMENT < steps + first * SEGMENT; from += SEGMENT) {
    const tokens = segments[segments.length - 1]!;
    const [out, ...nextKv] = tf.tidy(() => {
      let x = withPositions(tokens, from, ctx);
      const kept: tf.Tensor3D[] = [];
      net.decoder.forEach((layer, i) => {
        const fresh = keyValues(layer.selfAttn, x);
        const prevK = selfKv[2 * i];
        const prevV = selfKv[2 * i + 1];
        const kv =
          prevK === undefined || prevV === undefined
            ? fresh
            : { k: tf.concat([prevK, fresh.k], 1), v: tf.concat([prevV, fresh.v], 1) };
        kept.push(kv.k, kv.v);
        const memory = { k: memoryKv[2 * i]!, v: memoryKv[2 * i + 1]! };
        x = decoderLayer(layer, x, kv, memory, ctx);
      });
      return [outputTokens(net, x), ...kept];
    });
    for (const t of selfKv) t.dispose();
    selfKv = nextKv;
    segments.push(out!);
    onSegment?.(out!, segments.length - 1 - first);
  }
  for (const t of [...selfKv, ...memoryKv]) t!.dispose();
  const result = tf.concat(segments.slice(first), 1);
  for (const t of segments) t.dispose();
  return result;
}
