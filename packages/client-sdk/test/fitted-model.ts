/**
 * @module
 * A model folder whose manifest carries the in-distribution statistics, for the tests of the scored
 * path while no shipped model has them: a copy of one version of the repository's models/ folder in a
 * temporary folder, with `inDistribution` fitted by @ecg-tmp/core's fitDistribution on simulated
 * windows (seed 11, as the simulator's own in-distribution test). Fresh windows of the same seed score
 * in range (12 of 12 when this was written); the same windows ×1000 (µV read as mV) out of range.
 */

import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DistributionStats,
  ecgFeatures,
  fitDistribution,
  leadsFromElectrodes,
  N_STEPS,
} from '@ecg-tmp/core';
import { createSimulator } from '@ecg-tmp/simulator';

const ROOT = join(import.meta.dirname, '../../..');
const SEED = 11;
/** Windows fitted: fewer leave the 21 × 21 correlation too rough for fresh windows to score in range. */
const FIT = 120;

export interface FittedModels {
  /** The temporary models folder (aliases.json and MODEL/VERSION/). */
  readonly dir: string;
  readonly model: string;
  readonly version: string;
  readonly stats: DistributionStats;
  /** A simulated 12 × 500 window (mV) not among the fitted ones: `i` from 0. */
  fresh(i: number): Float32Array;
  remove(): Promise<void>;
}

/** Copies `model`'s stable version into a temporary models folder and adds fitted statistics. */
export async function fittedModels(model = 'cnn-lstm'): Promise<FittedModels> {
  const aliases = JSON.parse(await readFile(join(ROOT, 'models/aliases.json'), 'utf8'));
  const version: string = aliases[model].stable;
  const sim = createSimulator();
  const windowOf = (index: number) => leadsFromElectrodes(sim.simulate(SEED, index).electrodes, N_STEPS);
  const stats = fitDistribution(Array.from({ length: FIT }, (_, i) => ecgFeatures(windowOf(i))));

  const dir = await mkdtemp(join(tmpdir(), 'ecg-fitted-models-'));
  const from = join(ROOT, 'models', model, version);
  const to = join(dir, model, version);
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    if (name !== 'manifest.json') await copyFile(join(from, name), join(to, name));
  }
  const manifest = JSON.parse(await readFile(join(from, 'manifest.json'), 'utf8'));
  await writeFile(join(to, 'manifest.json'), JSON.stringify({ ...manifest, inDistribution: stats }));
  await writeFile(
    join(dir, 'aliases.json'),
    JSON.stringify({ [model]: { stable: version, latest: version } }),
  );
  return {
    dir,
    model,
    version,
    stats,
    fresh: (i) => windowOf(FIT + i),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Serves a models folder on disk as `https://models.test/` (the SDK's modelsUrl). */
export function folderFetch(dir: string): typeof fetch {
  return async (input) => {
    const path = new URL(String(input instanceof Request ? input.url : input)).pathname;
    try {
      return new Response(new Uint8Array(await readFile(join(dir, decodeURIComponent(path)))));
    } catch {
      return new Response('not found', { status: 404 });
    }
  };
}
