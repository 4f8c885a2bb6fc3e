/**
 * @module
 * Narrows a trained CNN-LSTM's last convolution to fewer output channels, as the start of a fine-tune
 * (`npm run train -- --conv-channels … --init-from <pruned.bin>`): the edge's cheaper variant begins
 * from what the paper-sized model learned instead of from scratch.
 *
 *   npm run prune -- --from models/trained/cnn-lstm/best.bin --conv-channels 64,128,128 \
 *     --out runs/cnn-lstm-small/pruned.bin [--samples 256]
 *
 * Which channels stay: each channel c of the last convolution reaches the LSTM only through the row
 * W[c] of its input weight, so replacing its activation a_c by its mean ā_c over the training split
 * changes the LSTM's input projection by (a_c − ā_c)·W[c], whose mean square is Var(a_c)·‖W[c]‖². The
 * channels with the largest Var(a_c)·‖W[c]‖² are kept (in their order); each dropped channel's mean
 * contribution ā_c·W[c] is folded into the LSTM's input bias, so a channel that is constant over the data
 * is dropped at no cost. The statistics come from `--samples` pairs of the training split only (the
 * BatchNorms in inference mode, as the exported graph runs them).
 * Writes a checkpoint with the narrowed weights and the source run's config with the new channels; the
 * fine-tune records its file and sha256 (state.initFrom).
 */

import { parseArgs } from 'node:util';
import { InputError } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from './backend.ts';
import { gatherBatch } from './batches.ts';
import { paramsOnly, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import type { TrainConfig } from './config.ts';
import { openCache } from './data.ts';
import { CNN_LSTM_CHANNELS, cnnLstmParams } from './models/cnn-lstm.ts';
import { convBatchNormRelu, ForwardContext } from './models/layers.ts';
import { ParamSet } from './models/params.ts';
import { type RunState, resolveDataset } from './train.ts';

export interface PruneResult {
  /** The last convolution's channels kept, in the source's numbering. */
  readonly kept: number[];
  /** Var(a_c)·‖W[c]‖² of every source channel (what the choice was made on). */
  readonly importance: Float64Array;
  /** The narrowed parameters, named as a model with the new channels names them. */
  readonly weights: Map<string, Float32Array>;
}

/**
 * The narrowing itself: `weights` of a CNN-LSTM with `from` channels, `ecg` a normalised channels-last
 * batch [B, T, 12] of training inputs, `to` the new channels (only the last may differ from `from`).
 */
export function pruneLastConv(
  weights: ReadonlyMap<string, Float32Array>,
  from: readonly number[],
  to: readonly number[],
  ecg: tf.Tensor3D,
): PruneResult {
  const last = from.length - 1;
  if (to.length !== from.length || to.some((n, i) => i < last && n !== from[i]))
    throw new InputError(
      'bad_value',
      `--conv-channels ${to.join(',')}: only the last convolution can be narrowed (the source has ${from.join(',')})`,
    );
  const cOld = from[last]!;
  const cNew = to[last]!;
  if (!(cNew >= 1 && cNew <= cOld))
    throw new InputError(
      'bad_value',
      `--conv-channels: the last convolution has ${cOld} channels; keep 1 to ${cOld}`,
    );
  if (weights.has('lstmBack.inputWeight'))
    throw new InputError('bad_value', 'pruning a bidirectional CNN-LSTM is not supported');

  // The source's convolutions on the batch, in inference mode.
  const params = new ParamSet(0);
  const net = cnnLstmParams(params, { inChannels: ecg.shape[2], outChannels: 75 }, false, from);
  params.write(weights);
  const ctx = ForwardContext.inference();
  const acts = tf.tidy(() => {
    let h: tf.Tensor3D = ecg;
    for (const { conv, bn } of net.convs) h = convBatchNormRelu(h, conv, bn, ctx);
    return h.reshape([-1, cOld]) as tf.Tensor2D;
  });
  const a = acts.dataSync() as Float32Array;
  const rows = acts.shape[0];
  acts.dispose();
  params.dispose();

  // Two passes, so a channel that is constant over the data has a variance of exactly 0.
  const mean = new Float64Array(cOld);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cOld; c++) mean[c]! += a[r * cOld + c]!;
  for (let c = 0; c < cOld; c++) mean[c]! /= rows;
  const sq = new Float64Array(cOld);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cOld; c++) sq[c]! += (a[r * cOld + c]! - mean[c]!) ** 2;
  const w = get(weights, 'lstm.inputWeight'); // [cOld, 4H]
  const gates = w.length / cOld;
  const importance = new Float64Array(cOld);
  for (let c = 0; c < cOld; c++) {
    const variance = sq[c]! / rows;
    let norm = 0;
    for (let j = 0; j < gates; j++) norm += w[c * gates + j]! ** 2;
    importance[c] = variance * norm;
  }
  const kept = [...importance.keys()]
    .sort((x, y) => importance[y]! - importance[x]! || x - y)
    .slice(0, cNew)
    .sort((x, y) => x - y);
  const keep = new Set(kept);

  const out = new Map<string, Float32Array>();
  for (const [name, values] of weights) out.set(name, values.slice());
  const pick = (values: Float32Array, width: number, along: 'rows' | 'columns') => {
    if (along === 'rows') {
      const r = new Float32Array(kept.length * width);
      for (const [i, c] of kept.entries()) r.set(values.subarray(c * width, (c + 1) * width), i * width);
      return r;
    }
    const n = values.length / width;
    const r = new Float32Array(n * kept.length);
    for (let i = 0; i < n; i++)
      for (const [j, c] of kept.entries()) r[i * kept.length + j] = values[i * width + c]!;
    return r;
  };
  out.set(`conv${last}.weight`, pick(get(weights, `conv${last}.weight`), cOld, 'columns'));
  for (const name of [
    `conv${last}.bias`,
    ...['weight', 'bias', 'runningMean', 'runningVar'].map((p) => `bn${last}.${p}`),
  ])
    out.set(name, pick(get(weights, name), 1, 'rows'));
  out.set('lstm.inputWeight', pick(w, gates, 'rows'));
  const bias = get(weights, 'lstm.inputBias').slice();
  for (let c = 0; c < cOld; c++) {
    if (keep.has(c)) continue;
    for (let j = 0; j < gates; j++) bias[j]! += mean[c]! * w[c * gates + j]!;
  }
  out.set('lstm.inputBias', bias);
  return { kept, importance, weights: out };
}

function get(weights: ReadonlyMap<string, Float32Array>, name: string): Float32Array {
  const v = weights.get(name);
  if (v === undefined) throw new InputError('bad_value', `the checkpoint has no parameter '${name}'`);
  return v;
}

/** `npm run prune`: reads the source checkpoint and its training data, writes the narrowed checkpoint. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        from: { type: 'string' },
        out: { type: 'string' },
        'conv-channels': { type: 'string' },
        samples: { type: 'string' },
      },
    }));
    for (const flag of ['from', 'out', 'conv-channels'])
      if (values[flag] === undefined) throw new InputError('bad_value', `--${flag} is required`);
  } catch (err) {
    process.stderr.write(
      `prune: ${(err as Error).message}\nusage: npm run prune -- --from RUN/best.bin --conv-channels 64,128,128 --out FILE [--samples 256]\n`,
    );
    return 2;
  }
  try {
    const to = values['conv-channels']!.split(',').map(Number);
    const samples = Number(values.samples ?? 256);
    if (!Number.isInteger(samples) || samples < 1)
      throw new InputError('bad_value', `--samples must be an integer ≥ 1, got '${values.samples}'`);
    const source = await readCheckpoint<RunState>(values.from!);
    const config = source.state.config;
    if (config.model !== 'cnn-lstm')
      throw new InputError(
        'bad_value',
        `${values.from} is a ${config.model} run; pruning is for the cnn-lstm`,
      );
    await startBackend(config.backend);
    const cache = await openCache(await resolveDataset(config));
    const n = Math.min(samples, cache.train.count);
    const batch = gatherBatch(
      cache.train,
      Array.from({ length: n }, (_, i) => i),
      'all',
    );
    const ecg = tf.tensor3d(batch.ecg.data, batch.ecg.shape);
    const from = config.convChannels ?? CNN_LSTM_CHANNELS;
    const result = pruneLastConv(paramsOnly(source.arrays), from, to, ecg);
    ecg.dispose();
    const total = result.importance.reduce((s, x) => s + x, 0);
    const keptShare = result.kept.reduce((s, c) => s + result.importance[c]!, 0) / total;
    const state = {
      ...source.state,
      config: { ...config, convChannels: to } satisfies TrainConfig,
      prunedFrom: {
        file: values.from,
        sha256: source.sha256,
        channels: from,
        samples: n,
        keptImportanceShare: keptShare,
      },
    };
    await writeCheckpoint(
      values.out!,
      state,
      new Map([...result.weights].map(([name, v]) => [`param.${name}`, v])),
    );
    process.stderr.write(
      `prune: ${from.join(',')} → ${to.join(',')} from ${n} training pairs; the kept channels carry ${(100 * keptShare).toFixed(1)}% of Var(a)·‖W‖²; wrote ${values.out}\n`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    process.stderr.write(`prune: ${err.message}\n`);
    return 2;
  }
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main();
}
