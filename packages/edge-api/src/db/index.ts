/**
 * @module
 * D1 access for the edge API: registry (versions, aliases, blobs) and tokens.
 */

export * from './registry.ts';
export * from './tokens.ts';
