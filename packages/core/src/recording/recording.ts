/**
 * @module
 * The one shape every recording reader (WFDB, EDF, CSV) returns — the leads it found, in mV, at the
 * record's own rate — and the step from it to what the models take: all 12 leads in LEAD_NAMES order at
 * 1 kHz, with III, aVR, aVL and aVF derived when only I, II and V1–V6 were recorded.
 */

import { InputError } from '../errors.ts';
import {
  LEAD_NAMES,
  type LeadName,
  leadsFromElectrodes,
  N_ELECTRODES,
  type Signal,
  STEP_MS,
} from '../layout.ts';
import { resample } from './resample.ts';

/** A recording as read from a file: any rate, any length, the standard leads it holds. */
export interface Recording {
  /** Samples per second of every lead. */
  readonly rate: number;
  /** Samples per lead. */
  readonly length: number;
  /** The standard leads found (others — respiration, Frank leads, annotations — are left out), mV. */
  readonly leads: Readonly<Partial<Record<LeadName, Float32Array>>>;
  /** Where it came from (a file name), as errors name it. */
  readonly source: string;
  /** Things worth telling the user that did not stop the read (a checksum mismatch, ignored columns). */
  readonly warnings: readonly string[];
}

/** Rates the readers accept: below 250 Hz the QRS is too coarsely sampled to resample honestly. */
export const MIN_RATE_HZ = 250;
/** No ECG is sampled faster; a higher rate is a broken header, and its resampling kernel would be huge. */
export const MAX_RATE_HZ = 32_768;
/** The models' rate. */
export const MODEL_RATE_HZ = 1000 / STEP_MS;

const LEAD_KEYS = new Map<string, LeadName>(LEAD_NAMES.map((name) => [name.toLowerCase(), name]));

/**
 * The standard lead a signal's label names, case-insensitively, with an optional "ECG", "EKG" or "Lead"
 * in front ("ii", "ECG V1", "Lead aVR"); undefined for anything else (including MLII and Frank leads).
 * @example
 * matchLead('ECG AVL'); // 'aVL'
 */
export function matchLead(label: string): LeadName | undefined {
  const key = label
    .trim()
    .toLowerCase()
    .replace(/^(?:(?:ecg|ekg|lead)[\s_-]*)+/, '');
  return LEAD_KEYS.get(key);
}

/** mV per unit of the units a lead may be stored in (µV in its three spellings, mV, V); undefined otherwise. */
export function mvPerUnit(units: string): number | undefined {
  switch (units.trim().toLowerCase()) {
    case 'mv':
      return 1;
    case 'uv':
    case 'µv':
    case 'μv':
      return 1e-3;
    case 'v':
      return 1e3;
    default:
      return undefined;
  }
}

/** Checks a sampling rate against what the readers accept; `code` is the reader's error code. */
export function checkRate(
  rate: number,
  source: string,
  code: 'bad_wfdb' | 'bad_edf' | 'bad_csv' | 'bad_recording',
): void {
  if (!Number.isFinite(rate) || rate < MIN_RATE_HZ || rate > MAX_RATE_HZ) {
    throw new InputError(
      code,
      `${source}: sampling rate ${rate} Hz is outside ${MIN_RATE_HZ}–${MAX_RATE_HZ} Hz` +
        (rate > 0 && rate < MIN_RATE_HZ ? ' (too coarse for the QRS to survive resampling to 1 kHz)' : ''),
    );
  }
}

/** A recording in the models' layout. */
export interface ModelRecording {
  /** [1, 12, T] mV at 1 kHz, LEAD_NAMES order. */
  readonly ecg: Signal;
  /** The leads computed from I and II rather than read (empty when all 12 were recorded). */
  readonly derived: readonly LeadName[];
  /** The recording's own rate, before resampling. */
  readonly fromRate: number;
}

const LIMB_DERIVED = ['III', 'aVR', 'aVL', 'aVF'] as const satisfies readonly LeadName[];

/**
 * All 12 leads at 1 kHz: each recorded lead resampled (an anti-aliasing windowed-sinc resampler, see
 * resample.ts), then any of III, aVR, aVL, aVF that is missing derived from I and II by the one lead
 * formula (layout.ts). Needs I, II and V1–V6 at least; throws InputError 'bad_recording' naming the
 * missing leads, or 'bad_value' when a lead holds a NaN (a WFDB invalid sample, a gap).
 * @example
 * const { ecg, derived } = toModelLayout(parseWfdb(header, files, 's0010_re.hea'));
 */
export function toModelLayout(recording: Recording): ModelRecording {
  const { source, rate, leads } = recording;
  checkRate(rate, source, 'bad_recording');
  const required: LeadName[] = ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
  const missing = required.filter((name) => leads[name] === undefined);
  if (missing.length > 0) {
    const found = LEAD_NAMES.filter((name) => leads[name] !== undefined);
    throw new InputError(
      'bad_recording',
      `${source}: lacks lead${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (found ${
        found.length > 0 ? found.join(', ') : 'none'
      }); the models need all 12 leads, or I, II and V1–V6 to derive the other four`,
    );
  }
  const recorded = LEAD_NAMES.filter((name) => leads[name] !== undefined);
  for (const name of recorded) {
    const data = leads[name]!;
    if (data.length !== recording.length) {
      throw new InputError(
        'bad_recording',
        `${source}: lead ${name} has ${data.length} samples, the recording ${recording.length}`,
      );
    }
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new InputError(
        'bad_value',
        `${source}: lead ${name} has no valid value at sample ${bad} (${(bad / rate).toFixed(3)} s); a gap or invalid sample cannot be reconstructed`,
      );
    }
  }

  const resampled = resample(
    recorded.map((name) => leads[name]!),
    rate,
    MODEL_RATE_HZ,
  );
  const byName = new Map(recorded.map((name, i) => [name, resampled[i]!]));
  const steps = resampled[0]!.length;
  const ecg = new Float32Array(LEAD_NAMES.length * steps);
  const derived = LIMB_DERIVED.filter((name) => !byName.has(name));
  if (derived.length > 0) {
    // Potentials are defined up to a common constant, so take RA as 0: LA = I, LL = II, and each chest
    // electrode is its lead plus Wilson's terminal W = (I + II) / 3. Then leadsFromElectrodes, the one
    // place the lead formula lives, gives III = II − I, aVR = −(I + II)/2, aVL = I − II/2, aVF = II − I/2.
    const electrodes = new Float64Array(steps * N_ELECTRODES);
    const i = byName.get('I')!;
    const ii = byName.get('II')!;
    for (let t = 0; t < steps; t++) {
      const row = t * N_ELECTRODES;
      const w = (i[t]! + ii[t]!) / 3;
      electrodes[row + 1] = i[t]!;
      electrodes[row + 2] = ii[t]!;
      for (let k = 0; k < 6; k++) electrodes[row + 4 + k] = byName.get(LEAD_NAMES[6 + k]!)![t]! + w;
    }
    leadsFromElectrodes(electrodes, steps, ecg);
  }
  // Recorded leads are copied as read (the derivation above rounds V1–V6 through W and back).
  LEAD_NAMES.forEach((name, l) => {
    const data = byName.get(name);
    if (data !== undefined) ecg.set(data, l * steps);
  });
  return { ecg: { data: ecg, shape: [1, LEAD_NAMES.length, steps] }, derived, fromRate: rate };
}
