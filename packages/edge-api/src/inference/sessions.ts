/**
 * @module
 * A model version's fp32 graphs as onnxruntime-web sessions, and the per-isolate cache that keeps a few
 * of them. Loading reads each graph from R2 by its digest and checks the bytes against the manifest
 * before ORT sees them; anything that stops a version from loading (a missing or altered blob, a graph
 * ORT rejects, a manifest without fp32 graphs) is a 503 `model_unavailable`, not a 500.
 */

import type { Manifest, ManifestFile } from '@ecg-tmp/core';
import type { InferenceSession } from 'onnxruntime-web/wasm';
import { sha256Hex } from '../db/index.ts';
import { ApiError } from '../errors.ts';
import { blobKey } from '../routes/blobs.ts';
import { onnxRuntime } from './ort.ts';

/** The sessions of one version: one graph, or the Transformer's encoder and decoder step. */
export type Graphs =
  | { readonly kind: 'single'; readonly model: InferenceSession }
  | { readonly kind: 'transformer'; readonly encoder: InferenceSession; readonly step: InferenceSession };

export interface LoadedModel {
  readonly manifest: Manifest;
  readonly graphs: Graphs;
}

const unavailable = (manifest: Manifest, why: string, cause?: unknown) =>
  new ApiError(
    503,
    'model_unavailable',
    `${manifest.name} ${manifest.version} cannot be loaded: ${why}`,
    {},
    { cause },
  );

/** The fp32 file of each role the architecture needs (the CPU fallback never runs fp16 weights). */
export function fp32Files(manifest: Manifest): ManifestFile[] {
  const roles = manifest.architecture === 'transformer' ? ['encoder', 'decoder-step'] : ['model'];
  return roles.map((role) => {
    const file = manifest.files.find((f) => f.role === role && f.dtype === 'fp32');
    if (file === undefined) throw unavailable(manifest, `it has no fp32 ${role} graph`);
    return file;
  });
}

/** Identifies what a cached entry holds: the version and the digests of its graphs. */
export function modelKey(manifest: Manifest): string {
  // The digests guard against a version deleted and published again with other files.
  return `${manifest.name}@${manifest.version}#${fp32Files(manifest)
    .map((f) => f.sha256.slice(0, 16))
    .join(',')}`;
}

async function openGraph(
  bucket: R2Bucket,
  manifest: Manifest,
  file: ManifestFile,
): Promise<InferenceSession> {
  const object = await bucket.get(blobKey(file.sha256));
  if (object === null) throw unavailable(manifest, `blob ${file.sha256} (${file.path}) is not in storage`);
  const bytes = new Uint8Array(await object.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== file.sha256) {
    throw unavailable(
      manifest,
      `${file.path} in storage has sha256 ${digest}, the manifest says ${file.sha256}`,
    );
  }
  const ort = await onnxRuntime();
  try {
    return await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  } catch (err) {
    const why = String((err as Error).message ?? err).replace(/^.*ERROR_MESSAGE:\s*/s, '');
    throw unavailable(manifest, `${file.path} is not a usable ONNX graph: ${why}`, err);
  }
}

/** Reads, verifies and opens a version's fp32 graphs. */
export async function loadModel(bucket: R2Bucket, manifest: Manifest): Promise<LoadedModel> {
  const files = fp32Files(manifest);
  const sessions: InferenceSession[] = [];
  try {
    for (const file of files) sessions.push(await openGraph(bucket, manifest, file));
  } catch (err) {
    await Promise.all(sessions.map((s) => s.release()));
    throw err;
  }
  const graphs: Graphs =
    manifest.architecture === 'transformer'
      ? { kind: 'transformer', encoder: sessions[0]!, step: sessions[1]! }
      : { kind: 'single', model: sessions[0]! };
  return { manifest, graphs };
}

export async function releaseModel(model: LoadedModel): Promise<void> {
  const g = model.graphs;
  const sessions = g.kind === 'single' ? [g.model] : [g.encoder, g.step];
  await Promise.all(sessions.map((s) => s.release()));
}

export interface ModelCache<T> {
  /**
   * Runs `fn` with the value cached under `key`, calling `load` first when there is none (concurrent
   * callers share one load; a failed load is not kept). A value evicted while in use is disposed of
   * once its last user is done.
   */
  use<R>(key: string, load: () => Promise<T>, fn: (value: T) => Promise<R>): Promise<R>;
  /** Cached keys, least recently used first. */
  keys(): string[];
}

/**
 * A least-recently-used cache of loaded models for one isolate.
 * @example
 * const cache = createModelCache({ capacity: 4, dispose: releaseModel });
 * const tmp = await cache.use(modelKey(m), () => loadModel(env.BLOBS, m), (model) => predict(model, ecg));
 */
export function createModelCache<T>(options: {
  readonly capacity: number;
  readonly dispose: (value: T) => Promise<void>;
}): ModelCache<T> {
  if (!Number.isInteger(options.capacity) || options.capacity < 1) {
    throw new RangeError(`a model cache needs a capacity of at least 1, got ${options.capacity}`);
  }
  interface Entry {
    readonly value: Promise<T>;
    users: number;
    evicted: boolean;
  }
  const entries = new Map<string, Entry>();

  const dispose = (entry: Entry) => {
    entry.value
      .then(options.dispose, () => {})
      .catch((err: Error) => {
        console.error(`disposing of an evicted model failed: ${err.message}`);
      });
  };

  return {
    async use(key, load, fn) {
      let entry = entries.get(key);
      if (entry === undefined) {
        const value = Promise.resolve().then(load);
        const created: Entry = { value, users: 0, evicted: false };
        entry = created;
        value.catch(() => {
          if (entries.get(key) === created) entries.delete(key);
        });
      } else {
        entries.delete(key);
      }
      // Map order is insertion order: re-inserting makes this key the most recently used.
      entries.set(key, entry);
      entry.users++;
      for (const [oldKey, old] of entries) {
        if (entries.size <= options.capacity) break;
        entries.delete(oldKey);
        old.evicted = true;
        if (old.users === 0) dispose(old);
      }
      try {
        return await fn(await entry.value);
      } finally {
        entry.users--;
        if (entry.evicted && entry.users === 0) dispose(entry);
      }
    },
    keys: () => [...entries.keys()],
  };
}
