/**
 * @module
 * Assembles the LSTM kernels' WebAssembly from the text wat.ts writes (wabt, a devDependency) into the
 * committed lstm.wasm, so the trainer needs no build step at run time; lstm.test.ts checks the committed
 * binary equals a fresh build.
 *
 *   node --import tsx packages/trainer/src/kernels/lstm/build.ts
 */

import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { lstmWat } from './wat.ts';

export const LSTM_WASM = 'lstm.wasm';

/** The binary, assembled from the generated text. */
export async function assembleLstm(): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat('lstm.wat', lstmWat(), { simd: true });
  try {
    module.validate();
    return module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = await assembleLstm();
  await writeFile(new URL(LSTM_WASM, import.meta.url), bytes);
  process.stdout.write(`wrote ${LSTM_WASM} (${bytes.length} bytes)\n`);
}
