/**
 * @module
 * Clinical recordings in: WFDB, EDF/EDF+ and CSV readers returning one Recording, the resampler, and
 * toModelLayout to the models' 12 leads at 1 kHz. Browser-safe; reading from a path is in core's Node
 * part (node/recording-file.ts).
 */

export { encodeRecordingCsv, parseRecordingCsv, type RecordingCsvOptions } from './csv.ts';
export { type EdfSignal, encodeEdf, parseEdf } from './edf.ts';
export {
  MAX_RATE_HZ,
  MIN_RATE_HZ,
  MODEL_RATE_HZ,
  type ModelRecording,
  matchLead,
  mvPerUnit,
  type Recording,
  toModelLayout,
} from './recording.ts';
export { resample } from './resample.ts';
export {
  type EncodeWfdbOptions,
  encodeWfdb,
  parseWfdb,
  parseWfdbHeader,
  WFDB_FORMATS,
  type WfdbFormat,
  type WfdbHeader,
  type WfdbSignal,
} from './wfdb.ts';
