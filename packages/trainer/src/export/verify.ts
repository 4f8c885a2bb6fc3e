/**
 * @module
 * Checks a shipped model folder end to end: the manifest validates, every file has the size and sha256
 * the manifest claims, every graph opens in onnxruntime-web's WASM build, and on held-out samples the
 * ONNX output matches the trainer's own forward pass from the checkpoint the model was exported from
 * (fp32 within PARITY_TOLERANCE, fp16 within FP16_TOLERANCE), in Exp I and Exp II.
 */

import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { InputError, type Manifest } from '@ecg-tmp/core';
import { readManifestFile, readModelFolderFiles } from '@ecg-tmp/core/node';
import { openCache } from '../data.ts';
import { splitBatch } from '../evaluate.ts';
import { ROOT, syntheticCache } from '../synthetic.ts';
import {
  checkParity,
  FP16_TOLERANCE,
  fileName,
  loadCheckpoint,
  PARITY_TOLERANCE,
  type ParityReport,
  trainerModel,
  WEIGHT_DTYPES,
} from './export.ts';
import type { GraphRole } from './graphs.ts';
import type { WeightDtype } from './onnx-graph.ts';
import { OrtModel } from './ort-node.ts';

/** Reads every file of the manifest and checks its size and digest; returns the bytes by dtype and role. */
export async function readModelFiles(
  dir: string,
  manifest: Manifest,
): Promise<Map<WeightDtype, Partial<Record<GraphRole, Uint8Array>>>> {
  const bytes = await readModelFolderFiles(dir, manifest);
  const out = new Map<WeightDtype, Partial<Record<GraphRole, Uint8Array>>>();
  for (const file of manifest.files) {
    const graphs = out.get(file.dtype) ?? {};
    graphs[file.role] = bytes.get(file.path)!;
    out.set(file.dtype, graphs);
  }
  return out;
}

/** Opens one dtype of a model folder in onnxruntime-web (files verified first). */
export async function openModel(
  dir: string,
  dtype: WeightDtype = 'fp32',
): Promise<{ manifest: Manifest; model: OrtModel }> {
  const manifest = await readManifestFile(dir);
  const graphs = (await readModelFiles(dir, manifest)).get(dtype);
  if (graphs === undefined) throw new InputError('bad_model', `${dir} has no ${dtype} files`);
  return { manifest, model: await OrtModel.open(manifest.architecture, graphs, `${dir} (${dtype})`) };
}

/** The cache folder a manifest names, re-created when it is a synthetic set that is not on this machine. */
async function datasetFor(manifest: Manifest, override?: string): Promise<string> {
  const dir =
    override ??
    (isAbsolute(manifest.training.dataset)
      ? manifest.training.dataset
      : join(ROOT, manifest.training.dataset));
  const found = await readFile(join(dir, 'index.json')).then(
    () => true,
    () => false,
  );
  if (found) return dir;
  // Named by the simulator's data version (synthetic-d2-…); a set named before versions existed is
  // re-made by today's simulator, which holds for the parity checks here but is not the data it was
  // trained on.
  const synthetic = /synthetic-(?:d\d+-)?s(\d+)-n(\d+)-cache$/.exec(dir);
  if (override === undefined && synthetic !== null) {
    return syntheticCache({
      seed: Number(synthetic[1]),
      count: Number(synthetic[2]),
      dataDir: join(dir, '..'),
    });
  }
  throw new InputError('bad_dataset', `the held-out data ${dir} is not here; pass --data <cache folder>`);
}

export interface VerifyOptions {
  /** The checkpoint to compare with; default: the one the manifest names. */
  readonly checkpoint?: string;
  /** A cache folder to draw held-out samples from; default: the manifest's data set. */
  readonly data?: string;
  /** Held-out samples. Default 4. */
  readonly samples?: number;
  readonly log?: (line: string) => void;
}

export interface VerifyReport {
  readonly manifest: Manifest;
  readonly parity: ParityReport;
}

/**
 * Verifies a model folder; throws an InputError naming the first problem. Needs a tfjs backend started.
 * @example
 * await startBackend('wasm');
 * const { parity } = await verifyModel('models/cnn-lstm/1.0.0');
 */
export async function verifyModel(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const log = options.log ?? (() => {});
  const manifest = await readManifestFile(dir);
  const files = await readModelFiles(dir, manifest);
  log(`${manifest.files.length} files match their sizes and sha256`);
  for (const file of manifest.files) {
    const expected = fileName(file.role, file.dtype);
    if (file.path !== expected) log(`note: ${file.path} is not the exporter's name (${expected})`);
  }
  const onnx: Partial<Record<WeightDtype, OrtModel>> = {};
  for (const dtype of WEIGHT_DTYPES) {
    const graphs = files.get(dtype);
    if (graphs !== undefined)
      onnx[dtype] = await OrtModel.open(manifest.architecture, graphs, `${dir} (${dtype})`);
  }
  if (onnx.fp32 === undefined) throw new InputError('bad_model', `${dir} has no fp32 graphs`);

  const source = options.checkpoint ?? manifest.training.checkpoint?.path;
  if (source === undefined) {
    throw new InputError(
      'bad_value',
      `${dir}'s manifest names no checkpoint; pass --checkpoint <run or .bin>`,
    );
  }
  const ckpt = await loadCheckpoint(isAbsolute(source) ? source : join(ROOT, source));
  if (options.checkpoint === undefined && ckpt.sha256 !== manifest.training.checkpoint?.sha256) {
    throw new InputError(
      'bad_value',
      `${ckpt.path} is not the checkpoint ${dir} was exported from (sha256 differs)`,
    );
  }
  if (ckpt.state.config.model !== manifest.architecture) {
    throw new InputError(
      'bad_value',
      `${ckpt.path} is a ${ckpt.state.config.model}, ${dir} a ${manifest.architecture}`,
    );
  }
  const cache = await openCache(await datasetFor(manifest, options.data));
  const samples = Math.min(options.samples ?? 4, cache.test.count);
  const model = trainerModel(ckpt);
  let parity: ParityReport;
  try {
    parity = await checkParity(model, onnx, splitBatch(cache.test, 0, samples).ecg);
  } finally {
    model.dispose();
    for (const m of Object.values(onnx)) await m.release();
  }
  for (const exp of ['full', 'limited'] as const) {
    for (const [dtype, diff] of Object.entries(parity.maxAbs[exp]) as [WeightDtype, number][]) {
      const bound = dtype === 'fp32' ? PARITY_TOLERANCE : FP16_TOLERANCE;
      log(
        `${dtype} Exp ${exp === 'full' ? 'I' : 'II'}: max |ONNX − trainer| = ${diff.toExponential(2)} (bound ${bound})`,
      );
      if (!(diff <= bound)) {
        throw new InputError(
          'bad_model',
          `${dir} ${dtype} differs from the trainer by ${diff} in Exp ${exp} (bound ${bound})`,
        );
      }
    }
  }
  return { manifest, parity };
}
