/**
 * @module
 * One error type for malformed signals, files and manifests, so callers (CLI, edge API, SDK) can tell
 * "your input is wrong" apart from a bug and map it to a clear message or a 4xx.
 */

export const INPUT_ERROR_CODES = [
  'bad_shape',
  'bad_value',
  'bad_npy',
  'bad_csv',
  'bad_wfdb',
  'bad_edf',
  'bad_recording',
  'bad_manifest',
  'bad_model',
  'bad_dataset',
  'unknown_normalisation',
] as const;
export type InputErrorCode = (typeof INPUT_ERROR_CODES)[number];

/** Thrown for input that is wrong; `message` names what and where. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly code: InputErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
