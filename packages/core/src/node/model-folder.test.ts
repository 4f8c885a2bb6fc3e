import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../errors.ts';
import { readJsonFile, readManifestFile, readModelFolderFiles } from './model-folder.ts';

// A shipped model folder, copied so that it can be broken.
const SHIPPED = fileURLToPath(new URL('../../../../models/cnn-lstm-small/0.1.0', import.meta.url));

describe('model folders', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'model-folder-'));
    await cp(SHIPPED, dir, { recursive: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the manifest and every file it lists, each with the bytes on disk', async () => {
    const manifest = await readManifestFile(dir);
    expect(manifest.name).toBe('cnn-lstm-small');
    const files = await readModelFolderFiles(dir, manifest);
    expect([...files.keys()].sort()).toEqual(manifest.files.map((f) => f.path).sort());
    for (const f of manifest.files) {
      expect(files.get(f.path)).toEqual(new Uint8Array(await readFile(join(dir, f.path))));
    }
  });

  it('names the file whose size or digest differs from the manifest, or that is missing', async () => {
    const manifest = await readManifestFile(dir);
    const file = manifest.files[0]!;
    const path = join(dir, file.path);
    const bytes = await readFile(path);
    try {
      const flipped = Buffer.from(bytes);
      flipped[flipped.length - 1]! ^= 1;
      await writeFile(path, flipped);
      await expect(readModelFolderFiles(dir, manifest)).rejects.toThrow(`${path} has sha256`);
      await writeFile(path, bytes.subarray(1));
      await expect(readModelFolderFiles(dir, manifest)).rejects.toThrow(
        `${path} has ${bytes.length - 1} bytes, the manifest says ${file.bytes}`,
      );
      await rm(path);
      const missing = readModelFolderFiles(dir, manifest);
      await expect(missing).rejects.toBeInstanceOf(InputError);
      await expect(missing).rejects.toThrow(`cannot read ${path}`);
    } finally {
      await writeFile(path, bytes);
    }
  });

  it('refuses a manifest that is missing, not JSON or not a manifest, naming the file', async () => {
    const broken = await mkdtemp(join(tmpdir(), 'model-folder-broken-'));
    try {
      const path = join(broken, 'manifest.json');
      await expect(readManifestFile(broken)).rejects.toThrow(`cannot read ${path}`);
      await writeFile(path, '{"name": ');
      await expect(readManifestFile(broken)).rejects.toThrow(`${path} is not JSON`);
      await expect(readJsonFile(path)).rejects.toMatchObject({ code: 'bad_manifest' });
      await writeFile(path, '{"name": "x"}');
      await expect(readManifestFile(broken)).rejects.toThrow(path);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});
