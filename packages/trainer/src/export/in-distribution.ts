/**
 * @module
 * The training split's statistics for the in-distribution check (core's distribution.ts), as the
 * exporter stores them in every manifest, and the patch re-export that adds them to a version shipped
 * before the check existed.
 *
 *   npm run export -- --patch models/cnn/0.2.0 --version 0.2.1 [--alias stable] [--data <cache>]
 *
 * A patch re-export copies the model's files byte for byte (same weights, same digests, same metrics),
 * adds `inDistribution` fitted on the training split of the data set the manifest names (or --data),
 * and writes the new version whole (folder.ts: a temporary folder renamed into place) — the old version
 * stays.
 */

import { existsSync } from 'node:fs';
import { access, copyFile, readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import {
  type DistributionStats,
  ecgFeatures,
  fitDistribution,
  InputError,
  type Manifest,
  N_LEADS,
  N_SITES,
  N_STEPS,
  parseManifest,
} from '@ecg-tmp/core';
import { readModelFolderFiles } from '@ecg-tmp/core/node';
import { readCheckpointState } from '../checkpoint.ts';
import { type CacheSplit, openCache } from '../data.ts';
import { EXPERIMENTS, evaluate } from '../evaluate.ts';
import { ROOT } from '../synthetic.ts';
import { type DeviationConfig, deviations, modelCard, shippedSites } from './card.ts';
import { writeVersionFolder } from './folder.ts';
import { type Graphs, OrtModel } from './ort-node.ts';

export interface TrainingDistribution {
  readonly stats: DistributionStats;
  /** Training windows measureEcg could not measure (left out of the fit). */
  readonly unmeasurable: number;
}

/** Fits the statistics to every window of a split (the training split at export). */
export function splitDistribution(split: CacheSplit): TrainingDistribution {
  const size = N_LEADS * N_STEPS;
  const rows: Float64Array[] = [];
  let unmeasurable = 0;
  for (let i = 0; i < split.count; i++) {
    try {
      rows.push(ecgFeatures(split.ecg.subarray(i * size, (i + 1) * size)));
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      unmeasurable++;
    }
  }
  return { stats: fitDistribution(rows), unmeasurable };
}

export interface PatchOptions {
  readonly version: string;
  /** A cache folder; default: the data set the manifest names (relative to the repository). */
  readonly data?: string;
  readonly log?: (line: string) => void;
}

/** Whether a manifest carries the spread in each experiment it has metrics for. */
function hasSpread(m: Manifest): boolean {
  return [m.metrics.full, m.metrics.limited].every((set) => set === undefined || set.spread !== undefined);
}

/**
 * Re-exports models/<name>/<version> as <name>/<options.version> with what its manifest lacks added: the
 * training statistics, the site list, the spread across ECGs (measured with the folder's own fp32 graphs
 * on the same test pairs as its metrics, which must come out the same), the model card — written anew
 * from the code, so that it says what was added, with the model's deviations from the paper; and the
 * folder's README.md. Refuses a folder that has them all (nothing to patch), a version that exists, and a data set that is not there (naming it and
 * how to make it).
 */
export async function patchDistribution(
  from: string,
  options: PatchOptions,
): Promise<{ dir: string; manifest: Manifest }> {
  const log = options.log ?? (() => {});
  const path = join(from, 'manifest.json');
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new InputError('bad_manifest', `cannot read ${path}: ${err.message}`);
  });
  const old = parseManifest(JSON.parse(text), path);
  const deviated = manifestDeviations(old);
  // A card that is not what this exporter writes now is patched too: one written before the patch kept
  // deviations (cnn-lstm-small 0.1.1) lacks them, and a card's wording can be corrected (transformer 0.2.2
  // said R² ≈ 0.85 was reachable from 10 ms; measured since, ≈ 0.78).
  const cardCurrent =
    old.card !== undefined && JSON.stringify(old.card) === JSON.stringify(modelCard(old, deviated));
  if (old.inDistribution !== undefined && old.siteList !== undefined && cardCurrent && hasSpread(old)) {
    throw new InputError(
      'bad_value',
      `${path} already carries inDistribution, siteList, the spread and the card this exporter writes (its deviations from the paper among them): nothing to patch`,
    );
  }
  const dir = join(dirname(from), options.version);
  if (await exists(dir)) {
    throw new InputError('bad_value', `${dir} already exists: versions are immutable, pick a new --version`);
  }
  const stats = old.inDistribution ?? (await fitFor(old, options.data, log));
  const metrics = hasSpread(old) ? old.metrics : await measureSpread(from, old, options.data, log);
  const source = `${old.name} ${options.version} manifest`;
  const base = parseManifest(
    {
      ...old,
      version: options.version,
      metrics,
      inDistribution: stats,
      siteList: old.siteList ?? shippedSites(),
    },
    source,
  );
  const manifest = parseManifest({ ...base, card: modelCard(base, deviated) }, source);
  await writeVersionFolder(dir, manifest, async (staging) => {
    for (const file of old.files) await copyFile(join(from, file.path), join(staging, basename(file.path)));
  });
  log(`wrote ${dir}`);
  return { dir, manifest };
}

/**
 * A shipped model's deviations from the paper's (card.ts's deviations()), from the config of the run its
 * manifest names as checkpoint, so that a patch keeps them on its card; none when that checkpoint is not
 * in this tree.
 */
export function manifestDeviations(m: Manifest): string[] {
  const path = m.training.checkpoint?.path;
  if (path === undefined) return [];
  const file = isAbsolute(path) ? path : join(ROOT, path);
  if (!existsSync(file)) return [];
  return deviations(m.architecture, readCheckpointState<{ config: DeviationConfig }>(file).config);
}

/** The data set a manifest names (or `data`), checked to be here. */
async function dataFor(old: Manifest, dataOption: string | undefined): Promise<string> {
  const data =
    dataOption ??
    (isAbsolute(old.training.dataset) ? old.training.dataset : join(ROOT, old.training.dataset));
  if (!(await exists(join(data, 'index.json')))) {
    throw new InputError(
      'bad_dataset',
      `${data} (the data set ${old.name} ${old.version} was trained on) is not here: make it first (npm run train re-makes synthetic sets; a fresh clone needs about 5 minutes) or pass --data`,
    );
  }
  return data;
}

/**
 * The manifest's metrics with the spread added to each experiment, measured by the folder's fp32 graphs
 * on the first `samples` test pairs, as the exporter measured the rest. The R² must come out as recorded
 * (within 1e-4): otherwise these are not the pairs the metrics were measured on, and the patch refuses.
 */
async function measureSpread(
  from: string,
  old: Manifest,
  dataOption: string | undefined,
  log: (line: string) => void,
): Promise<Manifest['metrics']> {
  const cache = await openCache(await dataFor(old, dataOption));
  const bytes = await readModelFolderFiles(from, old);
  const fp32 = old.files.filter((f) => f.dtype === 'fp32');
  if (fp32.length === 0) throw new InputError('bad_model', `${from} has no fp32 files`);
  const graphs: Graphs = Object.fromEntries(fp32.map((f) => [f.role, bytes.get(f.path)!]));
  const model = await OrtModel.open(old.architecture, graphs, `${from} (fp32)`);
  const metrics: Record<string, unknown> = { ...old.metrics };
  try {
    for (const exp of EXPERIMENTS) {
      const recorded = old.metrics[exp];
      if (recorded === undefined) continue;
      log(`measuring the spread of ${exp} on ${recorded.samples} test pairs`);
      const measured = (
        await evaluate((ecg) => model.predict(ecg), cache.test, {
          normalisation: old.normalisation,
          architecture: old.architecture,
          experiments: [exp],
          batchSize: 8,
          limit: recorded.samples,
        })
      )[exp]!;
      if (
        Math.abs(measured.r2 - recorded.r2) > 1e-4 ||
        measured.count !== recorded.samples * N_SITES * N_STEPS
      ) {
        throw new InputError(
          'bad_dataset',
          `${from}: on ${recorded.samples} test pairs of this data set the graphs score R² ${measured.r2.toFixed(5)} in ${exp}, the manifest says ${recorded.r2.toFixed(5)}: not the pairs its metrics were measured on (pass the right --data)`,
        );
      }
      metrics[exp] = { ...recorded, spread: Number(measured.spread.ratio.toPrecision(3)) };
      log(`spread (${exp}): ${measured.spread.ratio.toPrecision(3)} of the truth's`);
    }
  } finally {
    await model.release();
  }
  return metrics as Manifest['metrics'];
}

/** The statistics of the training split of the data set a manifest names (or `data`). */
async function fitFor(
  old: Manifest,
  dataOption: string | undefined,
  log: (line: string) => void,
): Promise<DistributionStats> {
  const data = await dataFor(old, dataOption);
  const { stats, unmeasurable } = splitDistribution((await openCache(data)).train);
  log(
    `in-distribution statistics from ${stats.count} training windows (${unmeasurable} unmeasurable): in range ≤ ${stats.unusual.toFixed(2)}, out of range > ${stats.threshold.toFixed(2)}`,
  );
  return stats;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
