/**
 * @module
 * The GEMM's two binaries, assembled from wat.ts's text (../kernels/assemble.ts): gemm-shared.wasm
 * (shared memory, for worker threads) and gemm.wasm (plain memory, the single-thread fallback where
 * SharedArrayBuffer is unavailable). Committed; gemm.test.ts checks they equal a fresh build.
 *
 *   node --import tsx packages/trainer/src/gemm/build.ts
 */

import { isMainModule } from '@ecg-tmp/core/node';
import { assemble, writeBinaries } from '../kernels/assemble.ts';
import { gemmWat } from './wat.ts';

export const WASM_FILES = { shared: 'gemm-shared.wasm', plain: 'gemm.wasm' } as const;

/** The binary for one memory kind. */
export function assembleGemm(shared: boolean): Promise<Uint8Array> {
  return assemble('gemm.wat', gemmWat({ shared }), { threads: true });
}

if (isMainModule(import.meta.url)) {
  await writeBinaries(new URL('.', import.meta.url), {
    [WASM_FILES.shared]: () => assembleGemm(true),
    [WASM_FILES.plain]: () => assembleGemm(false),
  });
}
