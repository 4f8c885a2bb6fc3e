/**
 * @module
 * The fused attention's two binaries, assembled from wat.ts's text (../assemble.ts):
 * attention-shared.wasm (shared memory, for worker threads) and attention.wasm (plain memory, the
 * single-thread fallback where SharedArrayBuffer is missing). Committed; kernel.test.ts checks they
 * equal a fresh build.
 *
 *   node --import tsx packages/trainer/src/kernels/attention/build.ts
 */

import { isMainModule } from '@ecg-tmp/core/node';
import { assemble, writeBinaries } from '../assemble.ts';
import { attentionWat } from './wat.ts';

export const WASM_FILES = { shared: 'attention-shared.wasm', plain: 'attention.wasm' } as const;

/** The binary for one memory kind. */
export function assembleAttention(shared: boolean): Promise<Uint8Array> {
  return assemble('attention.wat', attentionWat({ shared }), { threads: true });
}

if (isMainModule(import.meta.url)) {
  await writeBinaries(new URL('.', import.meta.url), {
    [WASM_FILES.shared]: () => assembleAttention(true),
    [WASM_FILES.plain]: () => assembleAttention(false),
  });
}
