/**
 * @module
 * @ecg-tmp/core — the one implementation of the signal conventions used by trainer, edge API and SDK.
 */

export * from './beats/index.ts';
export * from './csv.ts';
export * from './decode.ts';
export * from './distribution.ts';
export * from './ecg-measures.ts';
export * from './errors.ts';
export * from './layout.ts';
export * from './manifest.ts';
export * from './metrics.ts';
export * from './normalise.ts';
export * from './npy.ts';
export * from './recording/index.ts';
