/**
 * @module
 * @ecg-tmp/client-sdk — reconstruct cardiac transmembrane voltages (75 sites × 500 ms, mV) from a 12-lead
 * ECG (12 × 500, mV) in the browser: on the GPU through WebGPU, else WebAssembly, else the edge API.
 * Weights come from the edge's content-addressed blobs, are verified with SHA-256 and cached. Whole
 * recordings (WFDB, EDF, CSV) and live sample streams are reconstructed beat by beat (recording.ts).
 * @example
 * import { createReconstructor } from '@ecg-tmp/client-sdk';
 * const r = await createReconstructor({ model: 'cnn-lstm', edgeUrl: 'https://edge.example' });
 * const { tmp, backend } = await r.reconstruct(ecg);
 */

import {
  activationTimes as coreActivationTimes,
  repolarisationTimes as coreRepolarisationTimes,
  N_SITES,
  N_STEPS,
  type Signal,
} from '@ecg-tmp/core';
import { InputShapeError } from './errors.ts';

/** Core's types the recording functions and the in-distribution check use, re-exported so an app needs one import. */
export type { FeatureDeviation, InDistribution, Recording, SampleBlock } from '@ecg-tmp/core';
export {
  BACKENDS,
  type Backend,
  type Capabilities,
  capabilities,
  DEVICES,
  type Device,
  type DeviceOption,
} from './backends/select.ts';
export {
  BackendUnavailableError,
  InputShapeError,
  IntegrityError,
  ManifestError,
  ModelNotFoundError,
  NetworkError,
  OptionError,
  ReconstructorError,
  RecordingError,
} from './errors.ts';
export { type ByteStore, CACHE_KINDS, type CacheKind, memoryStore } from './hub/cache.ts';
export type { EcgInput } from './input.ts';
export type { ProgressCallback, ProgressEvent } from './progress.ts';
export {
  createReconstructor,
  type ModelName,
  type Reconstruction,
  type ReconstructOptions,
  type Reconstructor,
  type ReconstructorOptions,
  type Segment,
} from './reconstructor.ts';
export {
  type BeatEvent,
  type BeatReconstruction,
  type LiveReconstructOptions,
  type ParseRecordingOptions,
  parseRecording,
  type RecordingFile,
  type RecordingReconstructOptions,
  reconstructLive,
  reconstructRecording,
  type SkippedBeatEvent,
} from './recording.ts';

/**
 * Per-site activation time (ms): the first step at which each site's TMP crosses `thresholdMv` upward
 * (−1 for a site that never does). `tmp` is [B × 75 × 500] mV as reconstruct() returns it.
 * @example
 * const at = activationTimes(result.tmp); // Int32Array, at[b * 75 + site]
 */
export function activationTimes(tmp: Float32Array, thresholdMv = 0): Int32Array {
  return coreActivationTimes(tmpSignal(tmp), thresholdMv);
}

/**
 * Per-site repolarisation time (ms): the last step after activation at which each site's TMP falls
 * below `thresholdMv` (about 80 % repolarised at −60 mV); −1 for a site that never activates or is not
 * back below the level at 500 ms. `tmp` is [B × 75 × 500] mV as reconstruct() returns it.
 * @example
 * const rt = repolarisationTimes(result.tmp); // Int32Array, rt[b * 75 + site]
 * const apd = rt[0]! >= 0 ? rt[0]! - activationTimes(result.tmp)[0]! : undefined; // site 0's APD80, ms
 */
export function repolarisationTimes(tmp: Float32Array, thresholdMv = -60): Int32Array {
  return coreRepolarisationTimes(tmpSignal(tmp), thresholdMv);
}

function tmpSignal(tmp: Float32Array): Signal {
  const per = N_SITES * N_STEPS;
  if (tmp.length === 0 || tmp.length % per !== 0)
    throw new InputShapeError(`tmp must hold 75×500 values per sample; got ${tmp.length}`);
  return { data: tmp, shape: [tmp.length / per, N_SITES, N_STEPS] };
}
