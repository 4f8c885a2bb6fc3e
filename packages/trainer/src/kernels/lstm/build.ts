/**
 * @module
 * The LSTM kernels' binary, assembled from wat.ts's text (../assemble.ts) into the committed
 * lstm.wasm; lstm-fused.test.ts checks it equals a fresh build.
 *
 *   node --import tsx packages/trainer/src/kernels/lstm/build.ts
 */

import { isMainModule } from '@ecg-tmp/core/node';
import { assemble, writeBinaries } from '../assemble.ts';
import { lstmWat } from './wat.ts';

export const LSTM_WASM = 'lstm.wasm';

export function assembleLstm(): Promise<Uint8Array> {
  return assemble('lstm.wat', lstmWat());
}

if (isMainModule(import.meta.url)) {
  await writeBinaries(new URL('.', import.meta.url), { [LSTM_WASM]: assembleLstm });
}
