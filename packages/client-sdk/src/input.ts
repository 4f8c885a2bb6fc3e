/**
 * @module
 * Turns what a caller passes to reconstruct() into a [B, 12, 500] signal, or an InputShapeError that
 * says what is wrong: a Float32Array of 12×500 or B×12×500 values (lead-major, 1 ms steps), or plain
 * arrays — number[12][500] for one ECG, number[B][12][500] for several.
 */

import { N_LEADS, N_STEPS, type Signal } from '@ecg-tmp/core';
import { InputShapeError } from './errors.ts';

export type EcgInput =
  | Float32Array
  | readonly (readonly number[])[]
  | readonly (readonly (readonly number[])[])[];

const PER_ECG = N_LEADS * N_STEPS;

function checkFinite(data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      const b = Math.floor(i / PER_ECG);
      const lead = Math.floor((i % PER_ECG) / N_STEPS);
      throw new InputShapeError(
        `the ECG has a non-finite value (${data[i]}) at ECG ${b}, lead ${lead}, step ${i % N_STEPS}; replace gaps before reconstructing`,
      );
    }
  }
}

export function toSignal(ecg: EcgInput, maxBatch = 64): Signal {
  let data: Float32Array;
  if (ecg instanceof Float32Array) {
    if (ecg.length === 0 || ecg.length % PER_ECG !== 0) {
      throw new InputShapeError(
        `a Float32Array ECG must hold 12×500 = ${PER_ECG} values per ECG (lead-major); got ${ecg.length}`,
      );
    }
    data = ecg;
  } else if (Array.isArray(ecg)) {
    const nested = Array.isArray(ecg[0]) && Array.isArray((ecg[0] as unknown[])[0]);
    const ecgs = (nested ? ecg : [ecg]) as readonly (readonly (readonly number[])[])[];
    data = new Float32Array(ecgs.length * PER_ECG);
    ecgs.forEach((leads, b) => {
      if (!Array.isArray(leads) || leads.length !== N_LEADS) {
        throw new InputShapeError(
          `ECG ${b} must have 12 leads (I, II, III, aVR, aVL, aVF, V1–V6); got ${Array.isArray(leads) ? leads.length : typeof leads}`,
        );
      }
      leads.forEach((lead, l) => {
        if (!Array.isArray(lead) || lead.length !== N_STEPS) {
          throw new InputShapeError(
            `ECG ${b} lead ${l} must have 500 samples (1 ms each); got ${Array.isArray(lead) ? lead.length : typeof lead}`,
          );
        }
        for (let k = 0; k < N_STEPS; k++) {
          const v = lead[k];
          if (typeof v !== 'number')
            throw new InputShapeError(`ECG ${b} lead ${l} sample ${k} is not a number`);
          data[(b * N_LEADS + l) * N_STEPS + k] = v;
        }
      });
    });
  } else {
    throw new InputShapeError(
      'the ECG must be a Float32Array [B×12×500] or nested arrays number[12][500] / number[B][12][500]',
    );
  }
  const batch = data.length / PER_ECG;
  if (batch > maxBatch)
    throw new InputShapeError(`at most ${maxBatch} ECGs per call; got ${batch} — split the batch`);
  checkFinite(data);
  return { data, shape: [batch, N_LEADS, N_STEPS] };
}
