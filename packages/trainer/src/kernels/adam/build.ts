/**
 * @module
 * The fused Adam update's binary, assembled from wat.ts's text (../assemble.ts) into the committed
 * adam.wasm; adam.test.ts checks it equals a fresh build.
 *
 *   node --import tsx packages/trainer/src/kernels/adam/build.ts
 */

import { isMainModule } from '@ecg-tmp/core/node';
import { assemble, writeBinaries } from '../assemble.ts';
import { adamWat } from './wat.ts';

export const ADAM_WASM = 'adam.wasm';

export function assembleAdam(): Promise<Uint8Array> {
  return assemble('adam.wat', adamWat());
}

if (isMainModule(import.meta.url)) {
  await writeBinaries(new URL('.', import.meta.url), { [ADAM_WASM]: assembleAdam });
}
