/**
 * @module
 * A model folder on disk (models/<name>/<version>/): its manifest.json, validated, and every file the
 * manifest lists, checked against its size and sha256. The publish client and the trainer's
 * verify-model read folders through these, so both refuse a broken folder with the same errors.
 */

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import { type Manifest, parseManifest } from '../manifest.ts';

/** Reads and parses a JSON file; a missing or unparsable file is an InputError('bad_manifest') naming it. */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch((err: Error) => {
    throw new InputError('bad_manifest', `cannot read ${path}: ${err.message}`);
  });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError('bad_manifest', `${path} is not JSON: ${(err as Error).message}`);
  }
}

/** The folder's manifest.json, validated. */
export async function readManifestFile(dir: string): Promise<Manifest> {
  const path = join(dir, 'manifest.json');
  return parseManifest(await readJsonFile(path), path);
}

/**
 * Every file of the manifest by its path in the manifest, each checked against its size and sha256
 * (InputError('bad_model') naming the file otherwise).
 */
export async function readModelFolderFiles(
  dir: string,
  manifest: Manifest,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const file of manifest.files) {
    const path = join(dir, file.path);
    const bytes = await readFile(path).catch((err: Error) => {
      throw new InputError('bad_model', `cannot read ${path}: ${err.message}`);
    });
    if (bytes.length !== file.bytes)
      throw new InputError('bad_model', `${path} has ${bytes.length} bytes, the manifest says ${file.bytes}`);
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== file.sha256)
      throw new InputError('bad_model', `${path} has sha256 ${digest}, the manifest says ${file.sha256}`);
    out.set(file.path, new Uint8Array(bytes));
  }
  return out;
}
