/**
 * @module
 * Turns a trainer checkpoint into a shipped model: models/<name>/<version>/{manifest.json, *.onnx}.
 *
 *   1. read the checkpoint (weights + the run's config and provenance);
 *   2. build the fp32 and fp16 graphs (graphs.ts);
 *   3. check the fp32 graphs against the trainer's own forward pass on held-out samples (max |Δ| ≤ 1e-4
 *      on the normalised scale) — an export that does not match is not written;
 *   4. measure Exp I and Exp II on the test split with the ONNX graphs themselves (fp32 and fp16), so
 *      the manifest's metrics are those of what ships, and the fp16 change is recorded; and fit the
 *      training split's ECG statistics for the in-distribution check (in-distribution.ts);
 *   5. write every file into a temporary folder and rename it into place: a version appears whole or
 *      not at all, and an existing version is never overwritten.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import {
  type Architecture,
  DEFAULT_MODEL_NAMES,
  InputError,
  type Manifest,
  type ManifestFile,
  N_LEADS,
  N_SITES,
  N_STEPS,
  NAME_PATTERN,
  parseManifest,
  type Signal,
} from '@ecg-tmp/core';
import * as tf from '@tensorflow/tfjs-core';
import { NORMALISATION, toChannelsFirst, toChannelsLast } from '../batches.ts';
import { paramsOnly, readCheckpoint } from '../checkpoint.ts';
import { openCache } from '../data.ts';
import { type Experiment, evaluate, modelInput, splitBatch } from '../evaluate.ts';
import type { Model } from '../models/index.ts';
import { ROOT } from '../synthetic.ts';
import { BEST_FILE, modelOf, type RunState, resolveDataset } from '../train.ts';
import { deviations, modelCard, shippedSites } from './card.ts';
import { writeVersionFolder } from './folder.ts';
import { buildGraphs, type GraphRole } from './graphs.ts';
import { splitDistribution } from './in-distribution.ts';
import type { WeightDtype } from './onnx-graph.ts';
import { OrtModel } from './ort-node.ts';

/** The largest |ONNX − trainer| allowed on the normalised scale. */
export const PARITY_TOLERANCE = 1e-4;
/** fp16 weights move outputs by up to ~2e-3 on random and trained weights; this bound is tested. */
export const FP16_TOLERANCE = 1e-2;

export const WEIGHT_DTYPES = ['fp32', 'fp16'] as const;

export function fileName(role: GraphRole, dtype: WeightDtype): string {
  return `${role}${dtype === 'fp16' ? '.fp16' : ''}.onnx`;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface LoadedCheckpoint {
  readonly path: string;
  readonly sha256: string;
  readonly state: RunState;
  readonly weights: Map<string, Float32Array>;
}

/** A run folder (its best.bin) or a checkpoint file. */
export async function loadCheckpoint(runOrFile: string): Promise<LoadedCheckpoint> {
  const path = runOrFile.endsWith('.bin') ? runOrFile : join(runOrFile, BEST_FILE);
  const { state, arrays, sha256 } = await readCheckpoint<RunState>(path);
  return { path, sha256, state, weights: paramsOnly(arrays) };
}

/** The trainer's model with the checkpoint's weights, on the running tfjs backend. */
export function trainerModel(ckpt: LoadedCheckpoint): Model {
  const model = modelOf(ckpt.state.config);
  model.params.write(ckpt.weights);
  return model;
}

/** The trainer's forward pass on a normalised channels-first batch. */
export async function trainerPredict(model: Model, ecg: Signal): Promise<Signal> {
  const [b, c, t] = ecg.shape;
  const y = tf.tidy(() => model.predict(tf.tensor3d(toChannelsLast(ecg), [b, t, c])));
  const data = (await y.data()) as Float32Array;
  const shape = y.shape as [number, number, number];
  y.dispose();
  return toChannelsFirst(data, shape);
}

export function maxAbsDiff(a: Signal, b: Signal): number {
  if (a.data.length !== b.data.length) {
    throw new Error(`shapes differ: [${a.shape.join(', ')}] vs [${b.shape.join(', ')}]`);
  }
  let max = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    if (!(d <= max)) max = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return max;
}

export interface ParityReport {
  readonly samples: number;
  /** Per experiment: max |ONNX − trainer| for fp32 and fp16 weights. */
  readonly maxAbs: Record<Experiment, Record<WeightDtype, number>>;
}

/** Compares ONNX (every dtype given) with the trainer on the first `count` samples of `ecg` (mV). */
export async function checkParity(
  model: Model,
  onnx: Partial<Record<WeightDtype, OrtModel>>,
  ecg: Signal,
): Promise<ParityReport> {
  const maxAbs = { full: {}, limited: {} } as ParityReport['maxAbs'];
  for (const exp of ['full', 'limited'] as const) {
    const input = modelInput(ecg, exp, NORMALISATION.ecg);
    const reference = await trainerPredict(model, input);
    for (const [dtype, ort] of Object.entries(onnx) as [WeightDtype, OrtModel][]) {
      maxAbs[exp][dtype] = maxAbsDiff(await ort.predict(input), reference);
    }
  }
  return { samples: ecg.shape[0], maxAbs };
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export interface ExportOptions {
  readonly version: string;
  /** Default: the architecture's default name (cnn, cnn-lstm, transformer). */
  readonly name?: string;
  /** Parent of the model folders. Default: <repo>/models. */
  readonly out?: string;
  /** A cache folder for the parity check and the metrics; default: the run's data set. */
  readonly data?: string;
  /** Test-split samples for the metrics (default: all). */
  readonly metricsLimit?: number;
  /** Held-out samples for the parity check. Default 4. */
  readonly paritySamples?: number;
  readonly log?: (line: string) => void;
}

export interface ExportResult {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly parity: ParityReport;
}

/**
 * Exports one checkpoint. Needs a tfjs backend started (startBackend) for the parity check.
 * @example
 * await startBackend('wasm');
 * const { dir } = await exportModel('runs/lstm', { version: '1.0.0' });
 */
export async function exportModel(runOrFile: string, options: ExportOptions): Promise<ExportResult> {
  const log = options.log ?? (() => {});
  const ckpt = await loadCheckpoint(runOrFile);
  const { config } = ckpt.state;
  const architecture: Architecture = config.model;
  const name = options.name ?? DEFAULT_MODEL_NAMES[architecture];
  if (!NAME_PATTERN.test(name))
    throw new InputError('bad_value', `model name '${name}' must match ${NAME_PATTERN}`);
  const out = options.out ?? join(ROOT, 'models');
  const dir = join(out, name, options.version);
  if (await exists(dir)) {
    throw new InputError('bad_value', `${dir} already exists: versions are immutable, pick a new --version`);
  }

  // 1–2. Graphs for both weight dtypes.
  const graphs = new Map<WeightDtype, { role: GraphRole; bytes: Uint8Array }[]>();
  const onnx: Partial<Record<WeightDtype, OrtModel>> = {};
  for (const dtype of WEIGHT_DTYPES) {
    const built = buildGraphs(architecture, ckpt.weights, dtype, {
      lookahead: config.lookahead ?? 0,
      // An --encoder-input embedding run: the encoder hands the decoder start tokens, not segment 0.
      startTokens: (config.encoderInput ?? 'prediction') === 'embedding',
    });
    graphs.set(dtype, built);
    onnx[dtype] = await OrtModel.open(
      architecture,
      Object.fromEntries(built.map((g) => [g.role, g.bytes])),
      `${name} ${dtype}`,
    );
  }

  // 3. Parity with the trainer on held-out samples.
  const datasetDir = options.data ?? (await resolveDataset(config, log));
  const cache = await openCache(datasetDir);
  const paritySamples = Math.min(options.paritySamples ?? 4, cache.test.count);
  const model = trainerModel(ckpt);
  // The model's own count: the paper's, or a flagged deviation's (output projection, bidirectional LSTM).
  const parameters = model.params.countTrainable();
  let parity: ParityReport;
  try {
    parity = await checkParity(model, onnx, splitBatch(cache.test, 0, paritySamples).ecg);
  } finally {
    model.dispose();
  }
  for (const exp of ['full', 'limited'] as const) {
    const { fp32, fp16 } = parity.maxAbs[exp];
    log(
      `parity (${exp}, ${paritySamples} samples): fp32 max |Δ| ${fp32!.toExponential(2)}, fp16 ${fp16!.toExponential(2)}`,
    );
    if (!(fp32! <= PARITY_TOLERANCE)) {
      throw new Error(
        `export: the ONNX graph differs from the trainer by ${fp32} (> ${PARITY_TOLERANCE}) in Exp ${exp}`,
      );
    }
    if (!(fp16! <= FP16_TOLERANCE)) {
      throw new Error(
        `export: the fp16 graph differs from the trainer by ${fp16} (> ${FP16_TOLERANCE}) in Exp ${exp}`,
      );
    }
  }

  // 4. Metrics of what ships.
  const metricsFor = async (dtype: WeightDtype) => {
    const ort = onnx[dtype]!;
    const result = await evaluate((ecg) => ort.predict(ecg), cache.test, {
      normalisation: NORMALISATION,
      architecture,
      batchSize: 8,
      ...(options.metricsLimit === undefined ? {} : { limit: options.metricsLimit }),
    });
    const perSample = N_SITES * N_STEPS;
    const shape = (m: NonNullable<typeof result.full>) => ({
      mae: m.mae,
      mse: m.mse,
      r2: m.r2,
      pearson: m.pearson,
      spearman: m.spearman,
      samples: m.count / perSample,
      ...(Number.isFinite(m.spread.ratio) ? { spread: Number(m.spread.ratio.toPrecision(3)) } : {}),
    });
    return { full: shape(result.full!), limited: shape(result.limited!) };
  };
  log(`measuring Exp I/II on ${options.metricsLimit ?? cache.test.count} test samples of ${datasetDir}`);
  const fp32Metrics = await metricsFor('fp32');
  const fp16Metrics = await metricsFor('fp16');
  for (const m of Object.values(onnx)) await m.release();
  const fp16Delta: Record<string, number> = {};
  for (const exp of ['full', 'limited'] as const) {
    for (const key of ['mae', 'mse', 'r2', 'pearson', 'spearman'] as const) {
      fp16Delta[`${exp}.${key}`] = fp16Metrics[exp][key] - fp32Metrics[exp][key];
    }
  }

  const distribution = splitDistribution(cache.train);
  log(
    `in-distribution statistics from ${distribution.stats.count} training windows (${distribution.unmeasurable} unmeasurable)`,
  );

  // 5. Files and manifest, written whole.
  const files: ManifestFile[] = [];
  const contents = new Map<string, Uint8Array>();
  for (const [dtype, built] of graphs) {
    for (const { role, bytes } of built) {
      const path = fileName(role, dtype);
      contents.set(path, bytes);
      files.push({ path, role, sha256: sha256(bytes), bytes: bytes.length, dtype });
    }
  }
  const draft = {
    schemaVersion: 1 as const,
    name,
    version: options.version,
    architecture,
    parameters,
    // The Transformer reads the first 10 steps of whatever length it is given.
    inputs: [{ name: 'ecg', shape: ['batch', N_LEADS, 'time'], dtype: 'float32' }],
    outputs: [
      {
        name: 'tmp',
        shape: ['batch', N_SITES, architecture === 'transformer' ? N_STEPS : 'time'],
        dtype: 'float32',
      },
    ],
    normalisation: NORMALISATION,
    leads: N_LEADS,
    sites: N_SITES,
    files,
    metrics: { full: fp32Metrics.full, limited: fp32Metrics.limited, fp16Delta },
    training: {
      dataset: relative(ROOT, datasetDir) || datasetDir,
      seed: config.seed,
      epochs: ckpt.state.epoch,
      backend: ['webgpu', 'wasm', 'cpu'].includes(ckpt.state.backend) ? ckpt.state.backend : 'cpu',
      commit: gitCommit(),
      loss: config.loss,
      checkpoint: { path: relative(ROOT, ckpt.path) || ckpt.path, sha256: ckpt.sha256 },
    },
    inDistribution: distribution.stats,
    siteList: shippedSites(),
  };
  const source = `${name} ${options.version} manifest`;
  const bare = parseManifest(draft, source);
  const manifest = parseManifest(
    { ...bare, card: modelCard(bare, deviations(architecture, config)) },
    source,
  );
  await writeVersionFolder(dir, manifest, async (staging) => {
    for (const [path, bytes] of contents) await writeFile(join(staging, path), bytes);
  });
  log(`wrote ${dir}`);
  return { dir, manifest, parity };
}
