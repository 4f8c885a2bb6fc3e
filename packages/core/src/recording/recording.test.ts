/**
 * @module
 * Lead names and units as files spell them, and toModelLayout: the 12 leads at 1 kHz, III, aVR, aVL and
 * aVF derived by the lead formula when missing (checked against leads derived from electrode
 * potentials), and a clear error for what cannot be reconstructed.
 */

import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.ts';
import { LEAD_NAMES, type LeadName, leadsFromElectrodes, N_ELECTRODES } from '../layout.ts';
import { matchLead, mvPerUnit, type Recording, toModelLayout } from './recording.ts';

/** 12 leads from random-ish electrode potentials, at 1 kHz: the reference the derivation must meet. */
function fromElectrodes(steps: number): Float32Array {
  const electrodes = Float64Array.from(
    { length: steps * N_ELECTRODES },
    (_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.011),
  );
  return leadsFromElectrodes(electrodes, steps);
}

function recordingOf(ecg: Float32Array, steps: number, keep: readonly LeadName[], rate = 1000): Recording {
  const leads: Partial<Record<LeadName, Float32Array>> = {};
  for (const name of keep) {
    const l = LEAD_NAMES.indexOf(name);
    leads[name] = ecg.slice(l * steps, (l + 1) * steps);
  }
  return { rate, length: steps, leads, source: 'r', warnings: [] };
}

describe('lead names and units', () => {
  it.each([
    ['i', 'I'],
    ['II', 'II'],
    [' iii ', 'III'],
    ['AVR', 'aVR'],
    ['ECG aVL', 'aVL'],
    ['EKG-avf', 'aVF'],
    ['Lead V1', 'V1'],
    ['ECG lead v6', 'V6'],
  ])('%s is lead %s', (label, lead) => expect(matchLead(label)).toBe(lead));

  it.each(['MLII', 'V7', 'X', 'ECG', '', 'I II', 'vx', 'aV'])('%s is no standard lead', (label) =>
    expect(matchLead(label)).toBeUndefined(),
  );

  it('converts µV (three spellings), mV and V to mV and knows nothing else', () => {
    expect([
      mvPerUnit('uV'),
      mvPerUnit('\u00b5V'),
      mvPerUnit('\u03bcV'),
      mvPerUnit(' mV '),
      mvPerUnit('V'),
    ]).toEqual([1e-3, 1e-3, 1e-3, 1, 1e3]);
    expect(mvPerUnit('mmHg')).toBeUndefined();
    expect(mvPerUnit('')).toBeUndefined();
  });
});

describe('toModelLayout', () => {
  const steps = 600;
  const ecg = fromElectrodes(steps);

  it('derives III, aVR, aVL, aVF from I and II as the electrode formula does', () => {
    const model = toModelLayout(recordingOf(ecg, steps, ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']));
    expect(model.derived).toEqual(['III', 'aVR', 'aVL', 'aVF']);
    for (let i = 0; i < ecg.length; i++) expect(model.ecg.data[i]).toBeCloseTo(ecg[i]!, 5);
    // Recorded leads are copied bit for bit.
    expect(model.ecg.data.subarray(6 * steps)).toEqual(ecg.subarray(6 * steps));
  });

  it('keeps the limb leads that were recorded and derives only the missing ones', () => {
    const recorded = recordingOf(ecg, steps, ['I', 'II', 'III', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']);
    recorded.leads.III![0] = 42; // not what the formula gives: kept as recorded
    const model = toModelLayout(recorded);
    expect(model.derived).toEqual(['aVR', 'aVL']);
    expect(model.ecg.data[2 * steps]).toBe(42);
  });

  it('resamples to 1 kHz first (a 500 Hz record of 600 samples becomes 1,200 steps)', () => {
    const model = toModelLayout(recordingOf(ecg, steps, LEAD_NAMES, 500));
    expect(model.ecg.shape).toEqual([1, 12, 1200]);
    expect(model.fromRate).toBe(500);
    expect(model.derived).toEqual([]);
  });

  it('names the missing leads, a gap, a bad length and a rate out of range', () => {
    const run = (rec: Recording) => () => toModelLayout(rec);
    expect(run(recordingOf(ecg, steps, ['I', 'II', 'V1']))).toThrow(
      /r: lacks leads V2, V3, V4, V5, V6 \(found I, II, V1\); the models need all 12 leads, or I, II and V1–V6/,
    );
    expect(run(recordingOf(ecg, steps, []))).toThrow(/found none/);
    const gap = recordingOf(ecg, steps, LEAD_NAMES);
    gap.leads.V4![300] = Number.NaN;
    expect(run(gap)).toThrow(/lead V4 has no valid value at sample 300 \(0\.300 s\)/);
    expect(run({ ...recordingOf(ecg, steps, LEAD_NAMES), length: 10 })).toThrow(
      /lead I has 600 samples, the recording 10/,
    );
    expect(run(recordingOf(ecg, steps, LEAD_NAMES, 200))).toThrow(/200 Hz is outside 250–32768 Hz/);
    const err = (() => {
      try {
        run(recordingOf(ecg, steps, ['I']))();
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('bad_recording');
  });
});
