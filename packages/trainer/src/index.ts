/**
 * @module
 * @ecg-tmp/trainer — data cache, evaluation protocol and baselines (the models and training loop follow
 * in the trainer issue).
 */

export * from './baselines.ts';
export * from './data.ts';
export * from './evaluate.ts';
export { assignSplits, type PrepareOptions, prepareData, splitSizes } from './prepare-data.ts';
