/**
 * @module
 * Assembles the fused Adam update's WebAssembly from the text wat.ts writes (wabt, a devDependency) into the
 * committed adam.wasm, so the trainer needs no build step at run time; adam.test.ts checks the committed
 * binary equals a fresh build.
 *
 *   node --import tsx packages/trainer/src/kernels/adam/build.ts
 */

import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { adamWat } from './wat.ts';

export const ADAM_WASM = 'adam.wasm';

/** The binary, assembled from the generated text. */
export async function assembleAdam(): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat('adam.wat', adamWat(), { simd: true });
  try {
    module.validate();
    return module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = await assembleAdam();
  await writeFile(new URL(ADAM_WASM, import.meta.url), bytes);
  process.stdout.write(`wrote ${ADAM_WASM} (${bytes.length} bytes)\n`);
}
