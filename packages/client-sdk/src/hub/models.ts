/**
 * @module
 * Finding a model and getting its verified files: the manifest from the edge
 * (`/v1/models/:name/versions/:version`, aliases resolved by the edge) or from a self-hosted copy of the
 * repository's models/ folder (`aliases.json`, `<name>/<version>/manifest.json`); then every file of one
 * dtype from the local store (re-verified) or the network (resumed, verified, then stored). The last
 * manifest seen is kept too, so a cached model loads offline — and when the edge is unreachable or
 * keeps failing (5xx) the cached copy is used, and the caller is told so.
 */

import { InputError, type Manifest, parseAliases, parseManifest } from '@ecg-tmp/core';
import { IntegrityError, ManifestError, ModelNotFoundError, NetworkError } from '../errors.ts';
import type { ProgressCallback } from '../progress.ts';
import type { ByteStore } from './cache.ts';
import { type FetchContext, fetchJson, fetchVerified } from './fetch.ts';
import { sha256Hex } from './sha256.ts';

export type Source =
  | { readonly kind: 'edge'; readonly url: string }
  | { readonly kind: 'folder'; readonly url: string };

const trim = (url: string) => url.replace(/\/+$/, '');

/** A server's manifest (or aliases.json) that fails the schema: a ManifestError naming the fields. */
function parseServed<T>(parse: (json: unknown, source: string) => T, json: unknown, source: string): T {
  try {
    return parse(json, source);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    throw new ManifestError(`${err.message}; the server's copy is broken, tell whoever publishes it`, {
      cause: err,
    });
  }
}

/**
 * The manifest of `model` at a version or alias. When the network fails (a NetworkError: unreachable,
 * or 5xx after the retries), the copy stored when it was last fetched, with `onCachedFallback(reason)`;
 * a 404 or a broken manifest is never papered over with the cache.
 */
export async function loadManifest(
  source: Source,
  model: string,
  version: string,
  ctx: FetchContext,
  store: ByteStore,
  onCachedFallback: (reason: string) => void = () => {},
): Promise<Manifest> {
  const key = `manifest/${encodeURIComponent(trim(source.url))}/${model}/${version}`;
  try {
    let json: unknown;
    if (source.kind === 'edge') {
      json = await fetchJson(
        `${trim(source.url)}/v1/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}`,
        ctx,
        `model '${model}' version '${version}'`,
      );
    } else {
      let resolved = version;
      if (!/^\d/.test(version)) {
        const aliases = parseServed(
          parseAliases,
          await fetchJson(`${trim(source.url)}/aliases.json`, ctx, 'aliases.json'),
          `${trim(source.url)}/aliases.json`,
        );
        const v = aliases[model]?.[version];
        if (v === undefined)
          throw new ModelNotFoundError(
            `${trim(source.url)}/aliases.json names no '${version}' for model '${model}'`,
          );
        resolved = v;
      }
      json = await fetchJson(
        `${trim(source.url)}/${model}/${resolved}/manifest.json`,
        ctx,
        `model '${model}' version '${resolved}'`,
      );
    }
    const manifest = parseServed(parseManifest, json, `the manifest of ${model} ${version}`);
    if (manifest.name !== model)
      throw new IntegrityError(`asked for model '${model}', the server sent '${manifest.name}'`);
    await store.put(key, new TextEncoder().encode(JSON.stringify(manifest))).catch(() => {});
    return manifest;
  } catch (err) {
    if (!(err instanceof NetworkError)) throw err;
    const cached = await store.match(key).catch(() => undefined);
    if (cached === undefined) throw err;
    let manifest: Manifest;
    try {
      manifest = parseManifest(JSON.parse(new TextDecoder().decode(cached)), 'the cached manifest');
    } catch {
      throw err; // a damaged cache entry is no fallback: report the network failure
    }
    onCachedFallback(
      `the manifest of ${model} ${version} could not be fetched (${err.message}); using the cached copy (${manifest.name} ${manifest.version}), which may be out of date`,
    );
    return manifest;
  }
}

export function fileUrl(source: Source, manifest: Manifest, file: Manifest['files'][number]): string {
  return source.kind === 'edge'
    ? `${trim(source.url)}/v1/blobs/${file.sha256}`
    : `${trim(source.url)}/${manifest.name}/${manifest.version}/${file.path}`;
}

/** Every file of `dtype`, by role, verified; reports initiate / download / verify progress. */
export async function loadFiles(
  source: Source,
  manifest: Manifest,
  dtype: 'fp32' | 'fp16',
  ctx: FetchContext,
  store: ByteStore,
  onProgress: ProgressCallback,
): Promise<Map<string, Uint8Array>> {
  const files = manifest.files.filter((f) => f.dtype === dtype);
  if (files.length === 0)
    throw new ModelNotFoundError(
      `${manifest.name} ${manifest.version} has no ${dtype} files; try dtype '${dtype === 'fp16' ? 'fp32' : 'fp16'}'`,
    );
  const totalAll = files.reduce((n, f) => n + f.bytes, 0);
  let doneAll = 0;
  const out = new Map<string, Uint8Array>();
  for (const file of files) {
    const model = manifest.name;
    onProgress({ status: 'initiate', model, file: file.path, total: file.bytes });
    const key = `sha256/${file.sha256}`;
    const cached = await store.match(key).catch(() => undefined);
    if (cached !== undefined && cached.length === file.bytes && (await sha256Hex(cached)) === file.sha256) {
      doneAll += file.bytes;
      onProgress({
        status: 'download',
        model,
        file: file.path,
        loaded: file.bytes,
        total: file.bytes,
        loadedAll: doneAll,
        totalAll,
      });
      onProgress({ status: 'verify', model, file: file.path, cached: true });
      out.set(file.role, cached);
      continue;
    }
    const before = doneAll;
    const bytes = await fetchVerified(
      { url: fileUrl(source, manifest, file), sha256: file.sha256, bytes: file.bytes },
      ctx,
      (loaded) =>
        onProgress({
          status: 'download',
          model,
          file: file.path,
          loaded,
          total: file.bytes,
          loadedAll: before + loaded,
          totalAll,
        }),
    );
    doneAll += file.bytes;
    onProgress({ status: 'verify', model, file: file.path, cached: false });
    // Storing is best effort: a full quota must not fail a load that has its verified bytes.
    await store.put(key, bytes).catch(() => {});
    out.set(file.role, bytes);
  }
  return out;
}
