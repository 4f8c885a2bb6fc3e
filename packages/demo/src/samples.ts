/**
 * @module
 * The bundled synthetic test set: a few (ECG, TMP) pairs the simulator makes at build time, so the page
 * has inputs whose truth is known. Two files in the built page:
 *   - samples.json  what each sample is (SampleIndex);
 *   - samples.bin   little-endian float32, per sample the 12-lead ECG (12 × 500, lead-major, mV) then
 *                   the true TMP (75 × 500, site-major, mV).
 */

import { N_LEADS, N_SITES, N_STEPS } from '@ecg-tmp/core';

export interface SampleInfo {
  /** The simulator's file-name body, e.g. hearts_dd_0p2_lbbb_seed.7.idx.000002. */
  readonly name: string;
  /** Scenario class (normal, lbbb, rbbb, ectopic, scar). */
  readonly variant: string;
  /** Latest minus earliest activation time over the mesh (ms). */
  readonly totalActivationMs: number;
}

export interface SampleIndex {
  readonly seed: number;
  readonly samples: readonly SampleInfo[];
}

export interface Sample extends SampleInfo {
  /** 12 × 500, lead-major, mV. */
  readonly ecg: Float32Array;
  /** 75 × 500, site-major, mV. */
  readonly tmp: Float32Array;
}

const ECG_VALUES = N_LEADS * N_STEPS;
const TMP_VALUES = N_SITES * N_STEPS;
export const SAMPLE_BYTES = (ECG_VALUES + TMP_VALUES) * 4;

/** samples.bin for `samples` (ECG then TMP per sample). */
export function encodeSamples(samples: readonly { ecg: Float32Array; tmp: Float32Array }[]): Uint8Array {
  const out = new Uint8Array(samples.length * SAMPLE_BYTES);
  const view = new DataView(out.buffer);
  samples.forEach((s, i) => {
    if (s.ecg.length !== ECG_VALUES || s.tmp.length !== TMP_VALUES)
      throw new RangeError(`sample ${i}: expected ${ECG_VALUES} ECG and ${TMP_VALUES} TMP values`);
    let at = i * SAMPLE_BYTES;
    for (const v of s.ecg) {
      view.setFloat32(at, v, true);
      at += 4;
    }
    for (const v of s.tmp) {
      view.setFloat32(at, v, true);
      at += 4;
    }
  });
  return out;
}

/** The samples of samples.json + samples.bin. */
export function decodeSamples(index: SampleIndex, bytes: Uint8Array): Sample[] {
  if (bytes.length !== index.samples.length * SAMPLE_BYTES)
    throw new RangeError(
      `samples.bin has ${bytes.length} bytes; ${index.samples.length} samples need ${index.samples.length * SAMPLE_BYTES}`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = (at: number, n: number) => {
    const out = new Float32Array(n);
    for (let k = 0; k < n; k++) out[k] = view.getFloat32(at + 4 * k, true);
    return out;
  };
  return index.samples.map((info, i) => ({
    ...info,
    ecg: read(i * SAMPLE_BYTES, ECG_VALUES),
    tmp: read(i * SAMPLE_BYTES + ECG_VALUES * 4, TMP_VALUES),
  }));
}
