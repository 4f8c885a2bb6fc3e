/**
 * @module
 * Finding a model and getting its verified files: the manifest from the edge
 * (`/v1/models/:name/versions/:version`, aliases resolved by the edge) or from a self-hosted copy of the
 * repository's models/ folder (`aliases.json`, `<name>/<version>/manifest.json`); then every file of one
 * dtype from the local store (re-verified) or the network (resumed, verified, then stored). The last
 * manifest seen is kept too, so a cached model loads offline.
 */

import { type Manifest, parseAliases, parseManifest } from '@ecg-tmp/core';
import { IntegrityError, ModelNotFoundError, NetworkError } from '../errors.ts';
import type { ProgressCallback } from '../progress.ts';
import type { ByteStore } from './cache.ts';
import { type FetchContext, fetchJson, fetchVerified, sha256Hex } from './fetch.ts';

export type Source =
  | { readonly kind: 'edge'; readonly url: string }
  | { readonly kind: 'folder'; readonly url: string };

const trim = (url: string) => url.replace(/\/+$/, '');

/** The manifest of `model` at a version or alias; offline, the copy stored when it was last fetched. */
export async function loadManifest(
  source: Source,
  model: string,
  version: string,
  ctx: FetchContext,
  store: ByteStore,
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
        const aliases = parseAliases(
          await fetchJson(`${trim(source.url)}/aliases.json`, ctx, 'aliases.json'),
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
    const manifest = parseManifest(json, `the manifest of ${model} ${version}`);
    if (manifest.name !== model)
      throw new IntegrityError(`asked for model '${model}', the server sent '${manifest.name}'`);
    await store.put(key, new TextEncoder().encode(JSON.stringify(manifest))).catch(() => {});
    return manifest;
  } catch (err) {
    if (!(err instanceof NetworkError)) throw err;
    const cached = await store.match(key).catch(() => undefined);
    if (cached === undefined) throw err;
    return parseManifest(
      JSON.parse(new TextDecoder().decode(cached)),
      `the cached manifest of ${model} ${version}`,
    );
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
