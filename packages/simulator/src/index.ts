/**
 * @module
 * @ecg-tmp/simulator — the project's embedded default data set: a deterministic, physics-based
 * ECG / transmembrane-voltage generator over the real LLNL ventricular mesh, writing the real data
 * set's on-disk layout.
 *
 * @example
 * import { createSimulator } from '@ecg-tmp/simulator';
 * const sim = createSimulator();               // loads the mesh, precomputes the lead field (~0.5 s)
 * const s = sim.simulate(42, 0);               // sample 0 under seed 42, a few ms
 * s.electrodes; // Float64Array 500×10, time-major (RA, LA, LL, RL, V1…V6), mV
 * s.vm;         // Float64Array 500×75, time-major (points.csv order), mV
 */

export type { ConductionParams, EarlySite } from './eikonal.ts';
export { type GenerateOptions, generate } from './generate.ts';
export type { ApParams } from './membrane.ts';
export { type HeartMesh, loadHeartMesh, type RecordingSite, SURFACE } from './mesh.ts';
export type { NoiseOptions } from './noise.ts';
export { type SamplePaths, samplePaths, writeSample } from './output.ts';
export { type Prng, STREAM, samplePrng } from './prng.ts';
export { type SampleParams, type ScarParams, VARIANTS, type Variant } from './scenarios.ts';
export {
  AP_KEEP,
  AP_MODES,
  type ApKeep,
  type ApMode,
  createSimulator,
  DATASET_STEM,
  type SimulateOptions,
  type SimulationResult,
  type Simulator,
  type SimulatorOptions,
  sampleName,
} from './simulator.ts';
export { ECG_GAIN, ELECTRODES_BODY, type HeartPlacement, meshToBody } from './torso.ts';
export { DATA_VERSION } from './version.ts';
