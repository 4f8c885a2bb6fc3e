/**
 * @module
 * The SDK's typed errors. Each says what went wrong and what to do; `cause` keeps the underlying error.
 * @example
 * try { await r.reconstruct(ecg); } catch (e) { if (e instanceof InputShapeError) showHint(e.message); }
 */

import type { InputErrorCode } from '@ecg-tmp/core';

export class ReconstructorError extends Error {
  override readonly name: string = 'ReconstructorError';
}

/**
 * An option createReconstructor cannot use: an unknown `device` (the message lists the valid ones), a
 * device list that is empty or repeats one, neither `edgeUrl` nor `modelsUrl`, no `fetch` to use.
 */
export class OptionError extends ReconstructorError {
  override readonly name = 'OptionError';
}

/** The edge (or models folder) has no such model, version or alias. */
export class ModelNotFoundError extends ReconstructorError {
  override readonly name = 'ModelNotFoundError';
  /** What the server's 404 said, when it came with an error body (`{ error: { code, message } }`). */
  readonly server: { readonly code?: string; readonly message: string } | undefined;
  constructor(message: string, server?: { code?: string; message: string }, options?: ErrorOptions) {
    super(message, options);
    this.server = server;
  }
}

/** Downloaded bytes do not match the manifest's sha256 or size; they were not cached or used. */
export class IntegrityError extends ReconstructorError {
  override readonly name = 'IntegrityError';
}

/** The ECG passed to reconstruct() has the wrong shape, type or values. */
export class InputShapeError extends ReconstructorError {
  override readonly name = 'InputShapeError';
}

/** The requested device cannot run here (no WebGPU adapter, no WebAssembly, …). */
export class BackendUnavailableError extends ReconstructorError {
  override readonly name = 'BackendUnavailableError';
}

/** The edge could not be reached or kept failing after retries. */
export class NetworkError extends ReconstructorError {
  override readonly name = 'NetworkError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A manifest (or aliases.json) from the edge or models folder that fails the schema; names the fields. */
export class ManifestError extends ReconstructorError {
  override readonly name = 'ManifestError';
}

/**
 * A recording that cannot be read or used: a malformed file, a data file missing, leads missing, a rate
 * out of range, a signal too short or flat. `code` is @ecg-tmp/core's InputError code ('bad_wfdb', …).
 */
export class RecordingError extends ReconstructorError {
  override readonly name = 'RecordingError';
  constructor(
    message: string,
    readonly code: InputErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
