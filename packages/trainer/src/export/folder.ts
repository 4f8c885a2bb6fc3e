/**
 * @module
 * Writes a model version folder (models/<name>/<version>/) whole or not at all: its files, manifest.json
 * and README.md go to a hidden staging folder beside it, which is renamed into place at the end, so a
 * failed export or patch never leaves a half-written version that publish or the SDK could pick up.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Manifest } from '@ecg-tmp/core';
import { versionReadme } from './card.ts';

/**
 * Creates `dir` holding what `writeFiles` puts in the staging folder it is given, plus the manifest and
 * its README. `dir` must not exist yet (rename refuses a non-empty target).
 */
export async function writeVersionFolder(
  dir: string,
  manifest: Manifest,
  writeFiles: (staging: string) => Promise<void>,
): Promise<void> {
  const staging = join(dirname(dir), `.${manifest.version}.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(staging, { recursive: true });
  try {
    await writeFiles(staging);
    await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(join(staging, 'README.md'), versionReadme(manifest));
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}
