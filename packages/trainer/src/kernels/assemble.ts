/**
 * @module
 * Assembling our kernels' WebAssembly: each kernel's wat.ts generates its text, its build.ts names the
 * binaries and calls these. wabt is a devDependency; the binaries are committed, so the trainer needs no
 * build step at run time, and each kernel's test checks that they equal a fresh build.
 */

import { writeFile } from 'node:fs/promises';

export interface WatFeatures {
  /** Shared memory and atomics (a kernel run by worker threads). */
  readonly threads?: boolean;
}

/** The binary of a module's text; SIMD128 and bulk memory (memory.copy / memory.fill) are always on. */
export async function assemble(name: string, wat: string, features: WatFeatures = {}): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat(name, wat, {
    simd: true,
    threads: features.threads === true,
    bulk_memory: true,
  });
  try {
    // wabt's validate() ignores the threads feature; WebAssembly.compile validates at load instead.
    if (features.threads !== true) module.validate();
    return module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

/** Builds and writes each binary into `dir` (a build.ts run as a script). */
export async function writeBinaries(
  dir: URL,
  binaries: Record<string, () => Promise<Uint8Array>>,
): Promise<void> {
  for (const [file, build] of Object.entries(binaries)) {
    const bytes = await build();
    await writeFile(new URL(file, dir), bytes);
    process.stdout.write(`wrote ${file} (${bytes.length} bytes)\n`);
  }
}
