/**
 * @module
 * The real data set's on-disk layout:
 *   OUT/data_hearts_dd_0p2_<variant>/pECGData_hearts_dd_0p2_<variant>_<params>.npy  (500, 10) float64
 *   OUT/data_hearts_dd_0p2_<variant>/VmData_hearts_dd_0p2_<variant>_<params>.npy    (500, 75) float64
 * with <params> = `seed.<S>.idx.<i, 6 digits>`; the two files of a pair differ only in the
 * pECGData/VmData token. Files are written atomically (temporary file + rename).
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { N_ELECTRODES, N_SITES } from '@ecg-tmp/core';
import { writeNpyFile } from '@ecg-tmp/core/node';
import type { SimulationResult } from './simulator.ts';

export interface SamplePaths {
  readonly folder: string;
  readonly ecg: string;
  readonly vm: string;
}

/** Where a sample's pair goes under `outDir`. */
export function samplePaths(outDir: string, result: Pick<SimulationResult, 'name' | 'variant'>): SamplePaths {
  const stem = result.name.slice(0, result.name.indexOf(`_${result.variant}_`) + result.variant.length + 1);
  const folder = join(outDir, `data_${stem}`);
  return {
    folder,
    ecg: join(folder, `pECGData_${result.name}.npy`),
    vm: join(folder, `VmData_${result.name}.npy`),
  };
}

/** Writes one sample's pair; `madeFolders` caches folders already created by this writer. */
export async function writeSample(
  outDir: string,
  result: SimulationResult,
  madeFolders: Set<string> = new Set(),
): Promise<SamplePaths> {
  const paths = samplePaths(outDir, result);
  if (!madeFolders.has(paths.folder)) {
    await mkdir(paths.folder, { recursive: true });
    madeFolders.add(paths.folder);
  }
  const steps = result.electrodes.length / N_ELECTRODES;
  await Promise.all([
    writeNpyFile(paths.ecg, result.electrodes, [steps, N_ELECTRODES]),
    writeNpyFile(paths.vm, result.vm, [steps, N_SITES]),
  ]);
  return paths;
}
