/**
 * @module
 * Assembles the fused attention's WebAssembly from the text wat.ts writes (wabt, a devDependency) and
 * writes the two binaries the runtime loads: attention-shared.wasm (shared memory, for worker threads)
 * and attention.wasm (plain memory, the single-thread fallback where SharedArrayBuffer is missing). The
 * binaries are committed so the trainer needs no build step at run time; kernel.test.ts checks they
 * equal a fresh build.
 *
 *   node --import tsx packages/trainer/src/kernels/attention/build.ts
 */

import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { attentionWat } from './wat.ts';

export const WASM_FILES = { shared: 'attention-shared.wasm', plain: 'attention.wasm' } as const;

/** The binary for one memory kind, assembled from the generated text. */
export async function assembleAttention(shared: boolean): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat('attention.wat', attentionWat({ shared }), {
    simd: true,
    threads: true,
    bulk_memory: true,
  });
  try {
    // wabt's validate() ignores the threads feature; WebAssembly.compile validates at load instead.
    return module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [kind, file] of Object.entries(WASM_FILES)) {
    const bytes = await assembleAttention(kind === 'shared');
    await writeFile(new URL(file, import.meta.url), bytes);
    process.stdout.write(`wrote ${file} (${bytes.length} bytes)\n`);
  }
}
