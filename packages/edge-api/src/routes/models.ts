/**
 * @module
 * The model registry under /v1/models:
 *   GET    /                                   every model with its versions and aliases
 *   GET    /:name                              the manifest of its `stable` (else `latest`) version
 *   GET    /:name/versions/:version            a version's manifest (`:version` may be an alias)
 *   POST   /:name/versions                     publish (publish scope): multipart manifest + files, or a
 *                                              JSON manifest whose blobs were PUT to /v1/blobs first
 *   PUT    /:name/aliases/:alias               move an alias: { "version": "1.2.3" } (publish scope)
 *   DELETE /:name/versions/:version            delete a version no alias points to (publish scope)
 * Version responses are immutable; alias responses short-lived.
 */

import { type Manifest, parseManifest } from '@ecg-tmp/core';
import { type Context, Hono } from 'hono';
import { requireScope } from '../auth.ts';
import { readBody } from '../body.ts';
import { edgeCors } from '../cors.ts';
import {
  deleteVersion,
  getVersion,
  insertVersion,
  listAliases,
  listVersions,
  moveLatest,
  resolveAlias,
  setAlias,
  sha256Hex,
} from '../db/index.ts';
import { ApiError, guardStorage, notFound } from '../errors.ts';
import { aliasName, compareVersions, modelName, version as versionName, versionOrAlias } from '../names.ts';
import { blobKey, MAX_BLOB_BYTES, storeBlob } from './blobs.ts';

export const MAX_FILES = 16;
/** A multipart publish carries every file in one body; Workers accept up to 100 MB. */
export const MAX_PUBLISH_BYTES = 96 * 1024 * 1024;
/** `{ "version": "…" }` with room for a long (refused) version, so it is refused by name. */
export const MAX_ALIAS_BODY_BYTES = 64 * 1024;
const ALIAS_CACHE = 'public, max-age=60';
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The version a path segment names (a version or an alias), with whether it came through an alias. */
export async function resolveVersion(
  db: D1Database,
  model: string,
  versionOrAliasParam: string,
): Promise<{ version: string; viaAlias: boolean }> {
  const v = versionOrAlias(versionOrAliasParam);
  if (v.kind === 'version') return { version: v.value, viaAlias: false };
  const resolved = await resolveAlias(db, model, v.value);
  if (resolved === null) throw notFound(`alias '${v.value}' of model '${model}'`);
  return { version: resolved, viaAlias: true };
}

/** The manifest of model `name` at a version or alias; 404 when either is unknown. */
export async function manifestFor(db: D1Database, name: string, versionOrAliasParam: string) {
  const { version, viaAlias } = await resolveVersion(db, name, versionOrAliasParam);
  const row = await getVersion(db, name, version);
  if (row === null) throw notFound(`version ${version} of model '${name}'`);
  return { manifest: row.manifest, viaAlias };
}

/** The default version of a model: its `stable` alias, else `latest`. */
export async function defaultVersion(db: D1Database, name: string): Promise<string> {
  const v = (await resolveAlias(db, name, 'stable')) ?? (await resolveAlias(db, name, 'latest'));
  if (v === null) throw notFound(`model '${name}'`);
  return v;
}

export const models = new Hono<{ Bindings: Env }>();

// No own header list: a preflight for a manifest admits whatever request headers it asks for.
const readCors = edgeCors({ allowMethods: ['GET', 'HEAD'], exposeHeaders: ['ETag', 'Content-Location'] });

models.use('*', async (c, next) => {
  // Reads are for pages (the configured origins fetch manifests); writes are for the trainer.
  if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS')
    return readCors(c, next);
  await next();
});

models.get('/', async (c) => {
  const [versions, aliases] = await Promise.all([listVersions(c.env.DB), listAliases(c.env.DB)]);
  const byModel = new Map<string, { name: string; versions: string[]; aliases: Record<string, string> }>();
  const entry = (name: string) => {
    let e = byModel.get(name);
    if (e === undefined) {
      e = { name, versions: [], aliases: {} };
      byModel.set(name, e);
    }
    return e;
  };
  for (const v of versions) entry(v.model).versions.push(v.version);
  for (const a of aliases) entry(a.model).aliases[a.alias] = a.version;
  for (const e of byModel.values()) e.versions.sort(compareVersions);
  c.header('Cache-Control', ALIAS_CACHE);
  return c.json({ models: [...byModel.values()] });
});

function sendManifest(c: Context<{ Bindings: Env }>, manifest: Manifest, viaAlias: boolean) {
  c.header('Cache-Control', viaAlias ? ALIAS_CACHE : IMMUTABLE);
  c.header('Content-Location', `/v1/models/${manifest.name}/versions/${manifest.version}`);
  return c.json(manifest);
}

models.get('/:name', async (c) => {
  const name = modelName(c.req.param('name'));
  const { manifest } = await manifestFor(c.env.DB, name, await defaultVersion(c.env.DB, name));
  return sendManifest(c, manifest, true);
});

models.get('/:name/versions/:version', async (c) => {
  const name = modelName(c.req.param('name'));
  const { manifest, viaAlias } = await manifestFor(c.env.DB, name, c.req.param('version'));
  return sendManifest(c, manifest, viaAlias);
});

/** Reads the publish body: the manifest and, for multipart, the bytes of each file by path. */
async function readPublishBody(
  req: Request,
): Promise<{ manifest: unknown; files: Map<string, Uint8Array> | null }> {
  const type = (req.headers.get('content-type') ?? '').toLowerCase();
  const parseJson = (text: string, what: string) => {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new ApiError(400, 'bad_json', `${what} is not JSON: ${(err as Error).message}`);
    }
  };
  const json = type.startsWith('application/json');
  if (!json && !type.startsWith('multipart/form-data')) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'publish with multipart/form-data (manifest + files) or application/json (manifest only)',
    );
  }
  const bytes = await readBody(
    req,
    MAX_PUBLISH_BYTES,
    () =>
      new ApiError(
        413,
        'too_large',
        `a publish request may carry at most ${MAX_PUBLISH_BYTES} bytes; PUT large files to /v1/blobs/:sha256 first`,
      ),
  );
  if (json) return { manifest: parseJson(new TextDecoder().decode(bytes), 'the body'), files: null };
  let form: FormData;
  try {
    // The header as sent: a multipart boundary is case-sensitive.
    const headers = { 'Content-Type': req.headers.get('content-type')! };
    form = await new Response(bytes, { headers }).formData();
  } catch (err) {
    throw new ApiError(400, 'bad_multipart', `the multipart body cannot be read: ${(err as Error).message}`);
  }
  const manifestPart = form.get('manifest');
  if (manifestPart === null)
    throw new ApiError(400, 'missing_manifest', "the multipart body has no 'manifest' part");
  const manifestText = typeof manifestPart === 'string' ? manifestPart : await (manifestPart as File).text();
  const manifest = parseJson(manifestText, "the 'manifest' part");
  const files = new Map<string, Uint8Array>();
  let total = 0;
  for (const [field, value] of form.entries()) {
    if (field === 'manifest') continue;
    if (typeof value === 'string') throw new ApiError(400, 'bad_multipart', `part '${field}' must be a file`);
    if (files.size >= MAX_FILES)
      throw new ApiError(413, 'too_many_files', `a version may have at most ${MAX_FILES} files`);
    const bytes = new Uint8Array(await (value as File).arrayBuffer());
    if (bytes.length > MAX_BLOB_BYTES)
      throw new ApiError(413, 'too_large', `file '${field}' is larger than ${MAX_BLOB_BYTES} bytes`);
    total += bytes.length;
    files.set(field, bytes);
  }
  if (total > MAX_PUBLISH_BYTES)
    throw new ApiError(413, 'too_large', `the files add up to more than ${MAX_PUBLISH_BYTES} bytes`);
  return { manifest, files };
}

const versionExists = (name: string, version: string) =>
  new ApiError(409, 'version_exists', `${name} ${version} is already published; versions are immutable`);

/** A concurrent publish moved `latest` meanwhile: moves it onto `version` if that is still higher. */
async function catchUpLatest(db: D1Database, name: string, version: string, now: string): Promise<void> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const latest = await resolveAlias(db, name, 'latest');
    if (latest !== null && compareVersions(version, latest) <= 0) return;
    if (await moveLatest(db, name, version, latest, now)) return;
  }
}

models.post('/:name/versions', requireScope('publish'), async (c) => {
  const name = modelName(c.req.param('name'));
  const body = await readPublishBody(c.req.raw);
  const manifest = parseManifest(body.manifest, 'the manifest');
  if (manifest.name !== name) {
    throw new ApiError(
      400,
      'name_mismatch',
      `the manifest names model '${manifest.name}', the URL '${name}'`,
    );
  }
  if (manifest.files.length > MAX_FILES)
    throw new ApiError(413, 'too_many_files', `a version may have at most ${MAX_FILES} files`);
  if (
    (await guardStorage('looking the version up', () => getVersion(c.env.DB, name, manifest.version))) !==
    null
  )
    throw versionExists(name, manifest.version);
  // 1. Every file is verified before anything is stored.
  const verified: { sha256: string; bytes: Uint8Array }[] = [];
  for (const file of manifest.files) {
    if (body.files === null) {
      const head = await guardStorage(`checking blob ${file.sha256}`, () =>
        c.env.BLOBS.head(blobKey(file.sha256)),
      );
      if (head === null) {
        throw new ApiError(
          422,
          'missing_blob',
          `file '${file.path}' (${file.sha256}) has not been uploaded; PUT it to /v1/blobs/${file.sha256}`,
        );
      }
      if (head.size !== file.bytes) {
        throw new ApiError(
          422,
          'size_mismatch',
          `blob ${file.sha256} has ${head.size} bytes, the manifest says ${file.bytes}`,
        );
      }
      continue;
    }
    const bytes = body.files.get(file.path);
    if (bytes === undefined)
      throw new ApiError(
        422,
        'missing_file',
        `the manifest lists '${file.path}' but the request has no part with that name`,
      );
    if (bytes.length !== file.bytes) {
      throw new ApiError(
        422,
        'size_mismatch',
        `file '${file.path}' has ${bytes.length} bytes, the manifest says ${file.bytes}`,
      );
    }
    const actual = await sha256Hex(bytes);
    if (actual !== file.sha256) {
      throw new ApiError(
        422,
        'digest_mismatch',
        `file '${file.path}' has sha256 ${actual}, the manifest says ${file.sha256}`,
      );
    }
    verified.push({ sha256: actual, bytes });
  }
  if (body.files !== null) {
    const listed = new Set(manifest.files.map((f) => f.path));
    const extra = [...body.files.keys()].filter((p) => !listed.has(p));
    if (extra.length > 0)
      throw new ApiError(
        422,
        'unlisted_file',
        `the request has parts the manifest does not list: ${extra.join(', ')}`,
      );
  }
  // 2. Blobs first, then the version row: the version becomes visible only with all its blobs stored. A
  //    storage fault before the row leaves at most orphan blobs (GET /v1/admin/orphans) and a 503.
  for (const { sha256, bytes } of verified) {
    await guardStorage(`storing blob ${sha256}`, () => storeBlob(c.env, sha256, bytes));
  }
  // 3. The row and `latest` (it follows the highest version) in one transaction, so a retry after a
  //    fault never finds the version there with `latest` left behind.
  const now = new Date().toISOString();
  const latest = await guardStorage('reading latest', () => resolveAlias(c.env.DB, name, 'latest'));
  const moves = latest === null || compareVersions(manifest.version, latest) > 0;
  const written = await guardStorage('writing the version', () =>
    insertVersion(c.env.DB, manifest, now, moves ? { moveLatestFrom: latest } : {}),
  );
  if (written.outcome === 'exists') throw versionExists(name, manifest.version);
  if (written.outcome === 'missing_blobs') {
    throw new ApiError(
      422,
      'missing_blob',
      'a blob the manifest names was collected as an orphan meanwhile (or never recorded); upload it again',
    );
  }
  if (moves && !written.latestMoved) {
    await guardStorage('moving latest', () => catchUpLatest(c.env.DB, name, manifest.version, now));
  }
  c.header('Location', `/v1/models/${name}/versions/${manifest.version}`);
  return c.json(manifest, 201);
});

models.put('/:name/aliases/:alias', requireScope('publish'), async (c) => {
  const name = modelName(c.req.param('name'));
  const alias = aliasName(c.req.param('alias'));
  const bytes = await readBody(
    c.req.raw,
    MAX_ALIAS_BODY_BYTES,
    () => new ApiError(413, 'too_large', `an alias body may have at most ${MAX_ALIAS_BODY_BYTES} bytes`),
  );
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError(400, 'bad_json', 'the body must be JSON: { "version": "1.2.3" }');
  }
  const target = (body as { version?: unknown } | null)?.version;
  if (typeof target !== 'string')
    throw new ApiError(400, 'bad_body', 'the body must be { "version": "1.2.3" }');
  const version = versionName(target);
  if ((await getVersion(c.env.DB, name, version)) === null)
    throw notFound(`version ${version} of model '${name}'`);
  await setAlias(c.env.DB, name, alias, version, new Date().toISOString());
  return c.json({ name, alias, version });
});

models.delete('/:name/versions/:version', requireScope('publish'), async (c) => {
  const name = modelName(c.req.param('name'));
  const version = versionName(c.req.param('version'));
  if ((await getVersion(c.env.DB, name, version)) === null)
    throw notFound(`version ${version} of model '${name}'`);
  const result = await deleteVersion(c.env.DB, name, version);
  if (!result.deleted) {
    const aliases = result.aliases.length > 0 ? result.aliases.join(', ') : 'an alias';
    throw new ApiError(
      409,
      'version_aliased',
      `${name} ${version} is what ${aliases} points to; move the alias first`,
    );
  }
  return c.body(null, 204);
});
