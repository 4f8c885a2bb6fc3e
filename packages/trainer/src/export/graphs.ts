/**
 * @module
 * The three architectures as ONNX graphs, built from a trained model's named weights (ParamSet.read()).
 * Graphs are channels-first like the data (ecg [B, 12, T] → tmp [B, 75, T], B and T symbolic) and work
 * on the normalised scale; pre- and post-processing stay in @ecg-tmp/core, shared with every runtime.
 *
 * Conversions from the trainer's layout:
 *   - convolution weights [k·Cin, Cout] (tap-major rows) → ONNX Conv's [Cout, Cin, k];
 *   - BatchNorm (inference statistics) folded into the preceding convolution; dropout dropped;
 *   - LSTM gates from PyTorch order (i, f, g, o) to ONNX order (i, o, f, c), weights [In, 4H] → W [1, 4H, In];
 *   - the Transformer's 75 width-1 attention heads as broadcast products + Softmax (no full-width op fits
 *     heads of width 1 in opset 17), with the causal mask built from the cache length.
 * The Transformer is exported as an encoder graph and a decoder-step graph with a key/value cache; the
 * loop that drives them is @ecg-tmp/core's decodeTransformer.
 */

import { type Architecture, DECODER_LAYERS, N_LEADS, N_SITES, TRANSFORMER_IO } from '@ecg-tmp/core';
import { positionalEncoding } from '../models/layers.ts';
import { FIRES, POOL_AFTER_FIRE } from '../models/squeezenet1d.ts';
import { D_MODEL, SEGMENT } from '../models/transformer.ts';
import { GraphBuilder, type WeightDtype } from './onnx-graph.ts';

export type GraphRole = 'model' | 'encoder' | 'decoder-step';
export type Weights = ReadonlyMap<string, Float32Array>;

export interface ExportedGraph {
  readonly role: GraphRole;
  readonly bytes: Uint8Array;
}

const BN_EPS = 1e-5;
const LN_EPS = 1e-5;
/** Rows of the positional table shipped in the decoder step: enough for 500 steps and some headroom. */
export const POSITION_ROWS = 1000;
const MASKED = -1e30;

function get(weights: Weights, name: string): Float32Array {
  const w = weights.get(name);
  if (w === undefined) throw new Error(`export: the checkpoint has no parameter '${name}'`);
  return w;
}

/** [k·Cin, Cout] tap-major → [Cout, Cin, k]. */
function convWeight(w: Float32Array, cin: number, cout: number, k: number): Float32Array {
  if (w.length !== k * cin * cout)
    throw new Error(`export: conv weight has ${w.length} values, expected ${k * cin * cout}`);
  const out = new Float32Array(w.length);
  for (let j = 0; j < k; j++) {
    for (let c = 0; c < cin; c++) {
      for (let o = 0; o < cout; o++) out[(o * cin + c) * k + j] = w[(j * cin + c) * cout + o]!;
    }
  }
  return out;
}

interface ConvSpec {
  readonly prefix: string;
  readonly cin: number;
  readonly cout: number;
  readonly k: number;
  /** BatchNorm folded in: y = (conv + b − mean)·γ/√(var + ε) + β. */
  readonly bn?: string;
}

function conv(g: GraphBuilder, weights: Weights, x: string, spec: ConvSpec): string {
  const { prefix, cin, cout, k } = spec;
  const w = convWeight(get(weights, `${prefix}.weight`), cin, cout, k);
  const b = new Float32Array(get(weights, `${prefix}.bias`));
  if (spec.bn !== undefined) {
    const gamma = get(weights, `${spec.bn}.weight`);
    const beta = get(weights, `${spec.bn}.bias`);
    const mean = get(weights, `${spec.bn}.runningMean`);
    const variance = get(weights, `${spec.bn}.runningVar`);
    const per = cin * k;
    for (let o = 0; o < cout; o++) {
      const s = gamma[o]! / Math.sqrt(variance[o]! + BN_EPS);
      for (let i = 0; i < per; i++) w[o * per + i] = w[o * per + i]! * s;
      b[o] = (b[o]! - mean[o]!) * s + beta[o]!;
    }
  }
  const pad = (k - 1) / 2;
  return g.node(
    'Conv',
    [x, g.weight(`${prefix}.weight`, w, [cout, cin, k]), g.weight(`${prefix}.bias`, b, [cout])],
    { kernel_shape: [k], pads: [pad, pad], strides: [1] },
    prefix,
  );
}

const maxPool3 = (g: GraphBuilder, x: string) =>
  g.node('MaxPool', [x], { kernel_shape: [3], pads: [1, 1], strides: [1] });

/** SqueezeNet-1D on a channels-first tensor [B, cin, T] → [B, cout, T]. */
function squeezeNet(
  g: GraphBuilder,
  weights: Weights,
  x: string,
  prefix: string,
  cin: number,
  cout: number,
): string {
  const relu = (v: string) => g.node('Relu', [v]);
  let h = maxPool3(g, relu(conv(g, weights, x, { prefix: `${prefix}stem`, cin, cout: 64, k: 3 })));
  FIRES.forEach(([fin, s, e], i) => {
    const p = `${prefix}fire${i}`;
    const sq = relu(conv(g, weights, h, { prefix: `${p}.squeeze`, cin: fin, cout: s, k: 1 }));
    const e1 = relu(conv(g, weights, sq, { prefix: `${p}.expand1`, cin: s, cout: e, k: 1 }));
    const e3 = relu(conv(g, weights, sq, { prefix: `${p}.expand3`, cin: s, cout: e, k: 3 }));
    h = g.node('Concat', [e1, e3], { axis: 1 });
    if (POOL_AFTER_FIRE.has(i)) h = maxPool3(g, h);
  });
  return conv(g, weights, h, { prefix: `${prefix}head`, cin: 512, cout, k: 1 });
}

function squeezeNetGraph(weights: Weights, dtype: WeightDtype): ExportedGraph {
  const g = new GraphBuilder('squeezenet1d', dtype);
  const x = g.input('ecg', ['batch', N_LEADS, 'time']);
  g.output(squeezeNet(g, weights, x, '', N_LEADS, N_SITES), 'tmp', ['batch', N_SITES, 'time']);
  return {
    role: 'model',
    bytes: g.toBytes('SqueezeNet-1D: normalised ECG [B,12,T] → normalised TMP [B,75,T]'),
  };
}

/** Our gate blocks (i, f, g, o) in ONNX's order (i, o, f, c). */
const ONNX_GATE_ORDER = [0, 3, 1, 2] as const;

/** [rows, 4H] with gate blocks as columns in our order → [4H, rows] in ONNX's order. */
function lstmMatrix(w: Float32Array, rows: number, h: number): Float32Array {
  const out = new Float32Array(w.length);
  ONNX_GATE_ORDER.forEach((ours, onnxBlock) => {
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < rows; c++) out[(onnxBlock * h + r) * rows + c] = w[c * 4 * h + ours * h + r]!;
    }
  });
  return out;
}

function lstmBias(b: Float32Array, h: number): Float32Array {
  const out = new Float32Array(b.length);
  ONNX_GATE_ORDER.forEach((ours, onnxBlock) => {
    out.set(b.subarray(ours * h, (ours + 1) * h), onnxBlock * h);
  });
  return out;
}

function cnnLstmGraph(weights: Weights, dtype: WeightDtype, lookahead: number): ExportedGraph {
  const g = new GraphBuilder('cnn-lstm', dtype);
  const ecg = g.input('ecg', ['batch', N_LEADS, 'time']);
  // The trainer's --lookahead L: L zero steps after the ECG's end, the output's first L steps dropped.
  let h =
    lookahead > 0
      ? g.node('Pad', [ecg, g.constInt64('pads', [0, 0, 0, 0, 0, lookahead])], { mode: 'constant' })
      : ecg;
  let cin: number = N_LEADS;
  // The channels are the weights' own (the paper's 64, 128, 256, or a --conv-channels run's).
  for (let i = 0; weights.has(`conv${i}.bias`); i++) {
    const cout = get(weights, `conv${i}.bias`).length;
    h = g.node('Relu', [conv(g, weights, h, { prefix: `conv${i}`, cin, cout, k: 3, bn: `bn${i}` })]);
    cin = cout;
  }
  const hidden = get(weights, 'lstm.hiddenBias').length / 4;
  // The bidirectional deviation (trainer's --bidirectional): ONNX's own, forward weights first.
  const prefixes = weights.has('lstmBack.hiddenBias') ? ['lstm', 'lstmBack'] : ['lstm'];
  const dirs = prefixes.length;
  const w = new Float32Array(dirs * 4 * hidden * cin);
  const r = new Float32Array(dirs * 4 * hidden * hidden);
  const bias = new Float32Array(dirs * 8 * hidden);
  prefixes.forEach((p, d) => {
    w.set(lstmMatrix(get(weights, `${p}.inputWeight`), cin, hidden), d * 4 * hidden * cin);
    r.set(lstmMatrix(get(weights, `${p}.hiddenWeight`), hidden, hidden), d * 4 * hidden * hidden);
    bias.set(lstmBias(get(weights, `${p}.inputBias`), hidden), d * 8 * hidden);
    bias.set(lstmBias(get(weights, `${p}.hiddenBias`), hidden), d * 8 * hidden + 4 * hidden);
  });
  const seq = g.node('Transpose', [h], { perm: [2, 0, 1] });
  const y = g.node(
    'LSTM',
    [
      seq,
      g.weight('lstm.W', w, [dirs, 4 * hidden, cin]),
      g.weight('lstm.R', r, [dirs, 4 * hidden, hidden]),
      g.weight('lstm.B', bias, [dirs, 8 * hidden]),
    ],
    { hidden_size: hidden, direction: dirs === 2 ? 'bidirectional' : 'forward' },
  );
  // Y [T, dirs, B, H] → [T, B, dirs·H], each step's forward state then its backward one.
  const states =
    dirs === 2
      ? g.node('Reshape', [
          g.node('Transpose', [y], { perm: [0, 2, 1, 3] }),
          g.constInt64('shape', [0, 0, dirs * hidden]),
        ])
      : g.node('Squeeze', [y, g.constInt64('axis1', [1])]);
  const out = dense(g, weights, states, 'out', dirs * hidden, N_SITES);
  const tmp = g.node('Transpose', [out], { perm: [1, 2, 0] });
  g.output(
    lookahead > 0
      ? g.node('Slice', [
          tmp,
          g.constInt64('start', [lookahead]),
          g.constInt64('end', [Number.MAX_SAFE_INTEGER]),
          g.constInt64('axes', [2]),
        ])
      : tmp,
    'tmp',
    ['batch', N_SITES, 'time'],
  );
  return { role: 'model', bytes: g.toBytes('CNN-LSTM: normalised ECG [B,12,T] → normalised TMP [B,75,T]') };
}

/** x [..., in] · W [in, out] + b. */
function dense(
  g: GraphBuilder,
  weights: Weights,
  x: string,
  prefix: string,
  fin: number,
  fout: number,
): string {
  const w = g.weight(`${prefix}.weight`, get(weights, `${prefix}.weight`), [fin, fout]);
  const b = g.weight(`${prefix}.bias`, get(weights, `${prefix}.bias`), [fout]);
  return g.node('Add', [g.node('MatMul', [x, w]), b]);
}

/** The query, key or value projection of an in-projection [E, 3E] (part 0, 1, 2). */
function projection(g: GraphBuilder, weights: Weights, x: string, prefix: string, part: 0 | 1 | 2): string {
  const e = D_MODEL;
  const wAll = get(weights, `${prefix}.inProj.weight`);
  const bAll = get(weights, `${prefix}.inProj.bias`);
  const w = new Float32Array(e * e);
  for (let r = 0; r < e; r++) w.set(wAll.subarray(r * 3 * e + part * e, r * 3 * e + (part + 1) * e), r * e);
  const b = bAll.slice(part * e, (part + 1) * e);
  const names = ['q', 'k', 'v'] as const;
  return g.node('Add', [
    g.node('MatMul', [x, g.weight(`${prefix}.${names[part]}.weight`, w, [e, e])]),
    g.weight(`${prefix}.${names[part]}.bias`, b, [e]),
  ]);
}

/**
 * Additive causal mask [Lq, Lk] for queries that are the newest Lq of Lk tokens: query i sees keys
 * j ≤ Lk − Lq + i. Built once per graph from the shapes and shared by every layer.
 */
function causalMask(g: GraphBuilder, q: string, k: string): string {
  const length = (x: string) =>
    g.node('Gather', [g.node('Shape', [x]), g.constInt64('one', [1], [])], { axis: 0 });
  const lq = length(q);
  const lk = length(k);
  const zero = g.constInt64('zero', [0], []);
  const step = g.constInt64('step', [1], []);
  const rows = g.node('Unsqueeze', [
    g.node('Add', [g.node('Range', [zero, lq, step]), g.node('Sub', [lk, lq])]),
    g.constInt64('axis', [1]),
  ]);
  const hidden = g.node('Greater', [g.node('Range', [zero, lk, step]), rows]);
  return g.node('Where', [hidden, g.constFloat('masked', [MASKED], []), g.constFloat('open', [0], [])]);
}

/** 75 heads of width 1: q [B, Lq, E], k and v [B, Lk, E] → [B, Lq, E], with an optional additive mask. */
function attention(g: GraphBuilder, q: string, k: string, v: string, mask?: string): string {
  const heads = (x: string, axis: number) =>
    g.node('Unsqueeze', [g.node('Transpose', [x], { perm: [0, 2, 1] }), g.constInt64('axis', [axis])]);
  let scores = g.node('Mul', [heads(q, 3), heads(k, 2)]); // [B, E, Lq, Lk]
  if (mask !== undefined) scores = g.node('Add', [scores, mask]);
  const p = g.node('Softmax', [scores], { axis: -1 });
  const o = g.node('MatMul', [p, heads(v, 3)]); // [B, E, Lq, 1]
  return g.node('Transpose', [g.node('Squeeze', [o, g.constInt64('axis', [3])])], { perm: [0, 2, 1] });
}

function layerNorm(g: GraphBuilder, weights: Weights, x: string, prefix: string): string {
  return g.node(
    'LayerNormalization',
    [
      x,
      g.weight(`${prefix}.weight`, get(weights, `${prefix}.weight`), [D_MODEL]),
      g.weight(`${prefix}.bias`, get(weights, `${prefix}.bias`), [D_MODEL]),
    ],
    { axis: -1, epsilon: LN_EPS },
  );
}

function outProj(g: GraphBuilder, weights: Weights, x: string, prefix: string): string {
  return dense(g, weights, x, `${prefix}.outProj`, D_MODEL, D_MODEL);
}

function feedForward(g: GraphBuilder, weights: Weights, x: string, prefix: string): string {
  const hidden = get(weights, `${prefix}.ff1.bias`).length;
  const h = g.node('Relu', [dense(g, weights, x, `${prefix}.ff1`, D_MODEL, hidden)]);
  return dense(g, weights, h, `${prefix}.ff2`, hidden, D_MODEL);
}

const addNorm = (g: GraphBuilder, weights: Weights, x: string, y: string, ln: string) =>
  layerNorm(g, weights, g.node('Add', [x, y]), ln);

const ENCODER_LAYERS = 4;

/**
 * `startTokens` (a run with --encoder-input embedding): the input layer's output is the decoder's start
 * tokens, not segment 0, and leaves the graph as `start` (core's decode loop then decodes segment 0 too).
 */
function encoderGraph(weights: Weights, dtype: WeightDtype, startTokens: boolean): ExportedGraph {
  const io = TRANSFORMER_IO;
  const g = new GraphBuilder('transformer-encoder', dtype);
  const ecg = g.input(io.ecg, ['batch', N_LEADS, 'time']);
  const first = g.node('Slice', [
    ecg,
    g.constInt64('start', [0]),
    g.constInt64('end', [SEGMENT]),
    g.constInt64('axes', [2]),
  ]);
  const segment = squeezeNet(g, weights, first, 'input.', N_LEADS, D_MODEL); // [B, 75, 10]
  g.output(segment, startTokens ? io.start : io.segment, ['batch', N_SITES, SEGMENT]);
  const tokens = g.node('Transpose', [segment], { perm: [0, 2, 1] });
  let x = g.node('Add', [
    tokens,
    g.weight('positions', positionalEncoding(SEGMENT, D_MODEL), [SEGMENT, D_MODEL]),
  ]);
  for (let i = 0; i < ENCODER_LAYERS; i++) {
    const p = `encoder${i}`;
    const attn = `${p}.selfAttn`;
    const a = attention(
      g,
      projection(g, weights, x, attn, 0),
      projection(g, weights, x, attn, 1),
      projection(g, weights, x, attn, 2),
    );
    const h = addNorm(g, weights, x, outProj(g, weights, a, attn), `${p}.norm1`);
    x = addNorm(g, weights, h, feedForward(g, weights, h, p), `${p}.norm2`);
  }
  for (let i = 0; i < DECODER_LAYERS; i++) {
    const cross = `decoder${i}.crossAttn`;
    g.output(projection(g, weights, x, cross, 1), io.memoryKey(i), ['batch', SEGMENT, D_MODEL]);
    g.output(projection(g, weights, x, cross, 2), io.memoryValue(i), ['batch', SEGMENT, D_MODEL]);
  }
  return {
    role: 'encoder',
    bytes: g.toBytes(
      startTokens
        ? 'Transformer encoder: ECG (first 10 steps) → 10 start tokens + memory keys/values'
        : 'Transformer encoder: ECG (first 10 steps) → TMP segment 0 + memory keys/values',
    ),
  };
}

function decoderStepGraph(weights: Weights, dtype: WeightDtype): ExportedGraph {
  const io = TRANSFORMER_IO;
  const g = new GraphBuilder('transformer-decoder-step', dtype);
  // Any number of new tokens works (the loop feeds 10); the whole prefix with an empty cache is the
  // uncached decoder, which the decode benchmark compares against.
  const segment = g.input(io.segment, ['batch', N_SITES, 'tokens']);
  const pastKeys = Array.from({ length: DECODER_LAYERS }, (_, i) =>
    g.input(io.pastKey(i), ['batch', 'past', D_MODEL]),
  );
  const pastValues = Array.from({ length: DECODER_LAYERS }, (_, i) =>
    g.input(io.pastValue(i), ['batch', 'past', D_MODEL]),
  );
  const memKeys = Array.from({ length: DECODER_LAYERS }, (_, i) =>
    g.input(io.memoryKey(i), ['batch', SEGMENT, D_MODEL]),
  );
  const memValues = Array.from({ length: DECODER_LAYERS }, (_, i) =>
    g.input(io.memoryValue(i), ['batch', SEGMENT, D_MODEL]),
  );
  // Positions [P, P + n) where P, the tokens already decoded, is the cache length.
  const past = g.node('Slice', [
    g.node('Shape', [pastKeys[0]!]),
    g.constInt64('one', [1]),
    g.constInt64('two', [2]),
  ]);
  const table = g.weight('positions', positionalEncoding(POSITION_ROWS, D_MODEL), [POSITION_ROWS, D_MODEL]);
  const positions = g.node('Slice', [
    table,
    past,
    g.node('Add', [
      past,
      g.node('Slice', [g.node('Shape', [segment]), g.constInt64('two', [2]), g.constInt64('three', [3])]),
    ]),
    g.constInt64('axes', [0]),
  ]);
  let x = g.node('Add', [g.node('Transpose', [segment], { perm: [0, 2, 1] }), positions]);
  let mask: string | undefined;
  for (let i = 0; i < DECODER_LAYERS; i++) {
    const p = `decoder${i}`;
    const self = `${p}.selfAttn`;
    const cross = `${p}.crossAttn`;
    const addedKeys = projection(g, weights, x, self, 1);
    const addedValues = projection(g, weights, x, self, 2);
    const keys = g.node('Concat', [pastKeys[i]!, addedKeys], { axis: 1 });
    const values = g.node('Concat', [pastValues[i]!, addedValues], { axis: 1 });
    g.output(keys, io.presentKey(i), ['batch', 'present', D_MODEL]);
    g.output(values, io.presentValue(i), ['batch', 'present', D_MODEL]);
    // The same rows alone, for a runtime that grows the cache itself (core's growCache).
    g.output(addedKeys, io.addedKey(i), ['batch', 'tokens', D_MODEL]);
    g.output(addedValues, io.addedValue(i), ['batch', 'tokens', D_MODEL]);
    const query = projection(g, weights, x, self, 0);
    mask ??= causalMask(g, query, keys);
    let h = addNorm(
      g,
      weights,
      x,
      outProj(g, weights, attention(g, query, keys, values, mask), self),
      `${p}.norm1`,
    );
    const c = attention(g, projection(g, weights, h, cross, 0), memKeys[i]!, memValues[i]!);
    h = addNorm(g, weights, h, outProj(g, weights, c, cross), `${p}.norm2`);
    x = addNorm(g, weights, h, feedForward(g, weights, h, p), `${p}.norm3`);
  }
  // The measured deviation outputHead 'projection' (models/transformer.ts): a 75 → 75 layer at the end.
  if (weights.has('head.weight')) x = dense(g, weights, x, 'head', D_MODEL, D_MODEL);
  g.output(g.node('Transpose', [x], { perm: [0, 2, 1] }), io.nextSegment, ['batch', N_SITES, 'tokens']);
  return {
    role: 'decoder-step',
    bytes: g.toBytes('Transformer decoder step: newest TMP segment + KV cache → next segment + grown cache'),
  };
}

/** Every graph of one architecture, weights stored as `dtype`. */
export function buildGraphs(
  architecture: Architecture,
  weights: Weights,
  dtype: WeightDtype,
  options: { readonly lookahead?: number; readonly startTokens?: boolean } = {},
): ExportedGraph[] {
  const lookahead = options.lookahead ?? 0;
  if (lookahead > 0 && architecture !== 'cnn-lstm') throw new Error('lookahead applies to the cnn-lstm only');
  if (options.startTokens && architecture !== 'transformer')
    throw new Error('start tokens apply to the transformer only');
  switch (architecture) {
    case 'squeezenet1d':
      return [squeezeNetGraph(weights, dtype)];
    case 'cnn-lstm':
      return [cnnLstmGraph(weights, dtype, lookahead)];
    case 'transformer':
      return [encoderGraph(weights, dtype, options.startTokens ?? false), decoderStepGraph(weights, dtype)];
  }
}
