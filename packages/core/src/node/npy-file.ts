/**
 * @module
 * .npy files on disk. Writes go to a temporary file that is renamed into place, so a crash never
 * leaves a half-written array behind.
 */

import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { type EncodeNpyOptions, encodeNpy, type NpyArray, parseNpy } from '../npy.ts';

/** Reads and parses a .npy file; errors name the path. */
export async function readNpyFile(path: string): Promise<NpyArray> {
  return parseNpy(await readFile(path), path);
}

/** Atomically writes `bytes` to `path` (temporary file in the same folder, then rename). */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Encodes and atomically writes a .npy file. */
export async function writeNpyFile(
  path: string,
  data: Float32Array | Float64Array,
  shape: readonly number[],
  options?: EncodeNpyOptions,
): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape, options));
}
