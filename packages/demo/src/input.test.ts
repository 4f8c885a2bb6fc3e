/**
 * Uploads: every accepted layout gives the same 12 leads core derives, and every bad file a
 * FileInputError that says what is wrong.
 */

import { encodeNpy, leadsFromElectrodes, N_SITES, N_STEPS, timeMajorToChannelMajor } from '@ecg-tmp/core';
import { describe, expect, it } from 'vitest';
import { FileInputError, MAX_FILE_BYTES, parseUpload } from './input.ts';

/** Time-major electrodes (500 × 10) with distinct, smooth values. */
const electrodes = Float64Array.from(
  { length: N_STEPS * 10 },
  (_, i) => Math.sin(i * 0.37) * (1 + (i % 10) / 7),
);
const leads = leadsFromElectrodes(electrodes, N_STEPS);

function transpose(data: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

const ecgOf = (name: string, bytes: Uint8Array) => {
  const parsed = parseUpload(name, bytes);
  if (parsed.kind !== 'ecg') throw new Error(`${name} parsed as ${parsed.kind}`);
  return parsed;
};

describe('parseUpload', () => {
  it('derives the 12 leads from a pECGData .npy, (500, 10) or (10, 500), float64 or float32', () => {
    const a = ecgOf('pECGData_x.npy', encodeNpy(electrodes, [N_STEPS, 10]));
    expect(a.from).toBe('electrodes');
    expect(a.ecg).toEqual(leads);
    const b = ecgOf('pECGData_x.npy', encodeNpy(transpose(electrodes, N_STEPS, 10), [10, N_STEPS]));
    expect(b.ecg).toEqual(leads);
    // float32, big-endian, with a batch dimension of one: the same leads up to float32 rounding.
    const c = ecgOf('e.npy', encodeNpy(Float32Array.from(electrodes), [1, N_STEPS, 10], { endian: 'big' }));
    expect(Math.max(...c.ecg.map((v, i) => Math.abs(v - leads[i]!)))).toBeLessThan(1e-5);
  });

  it('reads a 12-lead .npy lead-major or time-major', () => {
    expect(ecgOf('l.npy', encodeNpy(leads, [12, N_STEPS])).ecg).toEqual(leads);
    const timeMajor = transpose(leads, 12, N_STEPS);
    const parsed = ecgOf('l.npy', encodeNpy(timeMajor, [N_STEPS, 12]));
    expect(parsed.from).toBe('leads');
    expect(parsed.ecg).toEqual(leads);
  });

  it('reads a VmData .npy as the true TMP', () => {
    const vm = Float64Array.from({ length: N_STEPS * N_SITES }, (_, i) => (i % 97) - 85);
    const parsed = parseUpload('VmData_x.npy', encodeNpy(vm, [N_STEPS, N_SITES]));
    expect(parsed.kind).toBe('tmp');
    if (parsed.kind === 'tmp') expect(parsed.tmp).toEqual(timeMajorToChannelMajor(vm, N_STEPS, N_SITES));
  });

  it('reads CSVs: 500 rows × 12 columns with a lead header in any order, or 12 rows × 500', () => {
    const names = ['V6', 'I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5'];
    const column = (name: string) =>
      ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'].indexOf(name);
    const rows = Array.from({ length: N_STEPS }, (_, t) =>
      names.map((n) => leads[column(n) * N_STEPS + t]!.toPrecision(9)).join(';'),
    );
    const timeMajor = ecgOf('ecg.csv', new TextEncoder().encode([names.join(';'), ...rows].join('\r\n')));
    expect(timeMajor.from).toBe('csv');
    expect(timeMajor.ecg).toEqual(leads);
    const leadRows = Array.from({ length: 12 }, (_, l) =>
      Array.from(leads.subarray(l * N_STEPS, (l + 1) * N_STEPS), (v) => v.toPrecision(9)).join(' '),
    );
    expect(ecgOf('ecg.txt', new TextEncoder().encode(leadRows.join('\n'))).ecg).toEqual(leads);
  });

  it.each([
    ['empty.npy', new Uint8Array(0), /empty/],
    ['notes.pdf', new Uint8Array([1, 2, 3]), /unsupported file type/],
    ['bad.npy', new TextEncoder().encode('hello'), /not a \.npy file/],
    ['shape.npy', encodeNpy(new Float64Array(20), [4, 5]), /has shape \(4, 5\)/],
    ['nan.npy', encodeNpy(new Float64Array(N_STEPS * 12).fill(Number.NaN), [12, N_STEPS]), /non-finite/],
    ['small.csv', new TextEncoder().encode('1,2,3\n4,5,6\n'), /2 rows × 3 columns/],
    ['ragged.csv', new TextEncoder().encode('1,2,3\n4,5\n'), /row 2 has 2 values/],
    ['word.csv', new TextEncoder().encode('1,2\n3,x\n'), /row 2, column 2 is not a number/],
    ['huge.csv', new Uint8Array(MAX_FILE_BYTES + 1), /too large/],
  ])('rejects %s with a message that says why', (name, bytes, message) => {
    expect(() => parseUpload(name, bytes)).toThrow(FileInputError);
    expect(() => parseUpload(name, bytes)).toThrow(message);
  });
});
