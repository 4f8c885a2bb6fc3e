/**
 * @module
 * A recording of any length uploaded to the page — a WFDB header with its data files, an EDF, or a CSV
 * with a header row of leads at the rate the page's field gives — read by the SDK's parseRecording and
 * cut into beats by core's extractor (filtered, QRS detected, each beat a 12 × 500 window aligned like
 * the training data), for the page's strip and beat picker. A file the page cannot use is a
 * FileInputError whose message says what is wrong.
 */

import { parseRecording } from '@ecg-tmp/client-sdk';
import {
  type BeatExtraction,
  extractRecordingBeats,
  InputError,
  LEAD_NAMES,
  type LeadName,
  type Recording,
} from '@ecg-tmp/core';
import { FileInputError } from './input.ts';

/** Larger files are not an ECG recording a page should hold (an hour of 12 leads at 500 Hz is ~40 MB). */
export const MAX_RECORDING_BYTES = 64 * 1024 * 1024;

/** Extensions only a recording has: with one of them among the files, the upload is a recording. */
const RECORDING_ONLY = ['.hea', '.dat', '.edf'];

export interface UploadedRecording {
  /** The record's file name (the header's for WFDB). */
  readonly name: string;
  readonly recording: Recording;
  readonly extraction: BeatExtraction;
  /** Leads computed from I and II because the file did not hold them. */
  readonly derived: readonly LeadName[];
}

/** Whether `names` are a recording's files rather than one window (and its truth). */
export function isRecordingUpload(names: readonly string[]): boolean {
  return names.some((name) => RECORDING_ONLY.some((ext) => name.toLowerCase().endsWith(ext)));
}

/**
 * Reads the recording among `files` and finds its beats; `rate` is a CSV's sampling rate.
 * @example
 * const { extraction } = await readRecordingUpload([...input.files], 500);
 * extraction.beats[0].window; // 12 × 500 mV, ready for reconstruct()
 */
export async function readRecordingUpload(files: readonly File[], rate: number): Promise<UploadedRecording> {
  const big = files.find((f) => f.size > MAX_RECORDING_BYTES);
  if (big !== undefined) {
    throw new FileInputError(
      `${big.name} is ${(big.size / 1048576).toFixed(0)} MB; recordings up to ${MAX_RECORDING_BYTES / 1048576} MB are read here`,
    );
  }
  let recording: Recording;
  try {
    recording = await parseRecording(files, { rate });
  } catch (err) {
    throw new FileInputError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  let extraction: BeatExtraction;
  try {
    extraction = extractRecordingBeats(recording);
  } catch (err) {
    if (err instanceof InputError) throw new FileInputError(err.message, { cause: err });
    throw err;
  }
  return {
    name: recording.source,
    recording,
    extraction,
    derived: LEAD_NAMES.filter((name) => recording.leads[name] === undefined),
  };
}
