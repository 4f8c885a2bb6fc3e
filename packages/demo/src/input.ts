/**
 * @module
 * Turns a file the user drops on the page into a 12-lead ECG (12 × 500, lead-major, mV) — or, for a
 * `VmData_*.npy`, into the true TMP (75 × 500, site-major, mV) to score against — or a FileInputError
 * whose message the page shows as it is. Accepted:
 *   - `pECGData_*.npy`: the data set's 10 electrode potentials, (500, 10) time-major or (10, 500),
 *     turned into 12 leads by core's derivation (Wilson terminal);
 *   - a 12-lead `.npy`: (12, 500) or (500, 12);
 *   - a CSV of 12 columns × 500 rows or 12 rows × 500 columns, read by core's parseEcgCsv (comma,
 *     semicolon, tab or spaces; quoted cells; one optional header row — lead names in a header put the
 *     columns in LEAD_NAMES order);
 *   - `VmData_*.npy`: (500, 75) or (75, 500).
 * Leading dimensions of size 1 (a batch of one) are dropped. Values are taken as mV.
 */

import {
  InputError,
  leadsFromElectrodes,
  N_ELECTRODES,
  N_LEADS,
  N_SITES,
  N_STEPS,
  parseEcgCsv,
  parseNpy,
  timeMajorToChannelMajor,
} from '@ecg-tmp/core';

/** Larger files cannot be one 500 ms recording; refuse them before reading them into memory. */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;

/** A file the page cannot use; `message` says why and what would work. */
export class FileInputError extends Error {
  override readonly name = 'FileInputError';
}

export type ParsedFile =
  | { readonly kind: 'ecg'; readonly ecg: Float32Array; readonly from: 'electrodes' | 'leads' | 'csv' }
  | { readonly kind: 'tmp'; readonly tmp: Float32Array };

const EXPECTED =
  'expected a pECGData_*.npy (500×10 electrodes), a 12-lead .npy (12×500 or 500×12), a CSV (12 columns × 500 rows or 12 rows × 500 columns) or a VmData_*.npy (500×75)';

/**
 * Parses one uploaded file.
 * @example
 * const parsed = parseUpload(file.name, new Uint8Array(await file.arrayBuffer()));
 * if (parsed.kind === 'ecg') await r.reconstruct(parsed.ecg);
 */
export function parseUpload(name: string, bytes: Uint8Array): ParsedFile {
  if (bytes.length === 0) throw new FileInputError(`${name} is empty; ${EXPECTED}`);
  if (bytes.length > MAX_FILE_BYTES)
    throw new FileInputError(
      `${name} is ${(bytes.length / 1048576).toFixed(1)} MB, too large for one 500 ms recording; ${EXPECTED}`,
    );
  const lower = name.toLowerCase();
  if (lower.endsWith('.npy')) return parseNpyUpload(name, bytes);
  if (lower.endsWith('.csv') || lower.endsWith('.txt')) {
    return { kind: 'ecg', ecg: asFileError(() => parseEcgCsv(bytes, name)).ecg, from: 'csv' };
  }
  throw new FileInputError(`${name}: unsupported file type; ${EXPECTED}`);
}

function parseNpyUpload(name: string, bytes: Uint8Array): ParsedFile {
  const array = asFileError(() => parseNpy(bytes, name));
  const shape = squeeze(array.shape);
  const data = array.data;
  checkFinite(name, data);
  const [rows, cols] = shape;
  const is = (r: number, c: number) => shape.length === 2 && rows === r && cols === c;
  if (is(N_STEPS, N_ELECTRODES))
    return { kind: 'ecg', ecg: leadsFromElectrodes(data, N_STEPS), from: 'electrodes' };
  if (is(N_ELECTRODES, N_STEPS))
    return {
      kind: 'ecg',
      ecg: leadsFromElectrodes(transpose(data, rows!, cols!), N_STEPS),
      from: 'electrodes',
    };
  if (is(N_STEPS, N_LEADS))
    return { kind: 'ecg', ecg: timeMajorToChannelMajor(data, N_STEPS, N_LEADS), from: 'leads' };
  if (is(N_LEADS, N_STEPS)) return { kind: 'ecg', ecg: Float32Array.from(data), from: 'leads' };
  if (is(N_STEPS, N_SITES)) return { kind: 'tmp', tmp: timeMajorToChannelMajor(data, N_STEPS, N_SITES) };
  if (is(N_SITES, N_STEPS)) return { kind: 'tmp', tmp: Float32Array.from(data) };
  throw new FileInputError(`${name} has shape (${array.shape.join(', ')}); ${EXPECTED}`);
}

/** Runs one of core's readers, turning its InputError (which names the file) into a FileInputError. */
function asFileError<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof InputError) throw new FileInputError(err.message, { cause: err });
    throw err;
  }
}

/** Drops leading dimensions of size 1, so a batch of one reads like one recording. */
function squeeze(shape: readonly number[]): readonly number[] {
  let i = 0;
  while (shape.length - i > 2 && shape[i] === 1) i++;
  return shape.slice(i);
}

function transpose(data: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

function checkFinite(name: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!))
      throw new FileInputError(`${name} has a non-finite value (${data[i]}) at flat index ${i}`);
  }
}
