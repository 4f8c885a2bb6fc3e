/**
 * @module
 * The registry's SQL, one small typed function per statement. A version row is the point at which a
 * version becomes visible; it is inserted (with `latest`, in one transaction) after all its blobs are in R2.
 */

import { type Manifest, parseManifest } from '@ecg-tmp/core';

export interface VersionRow {
  readonly model: string;
  readonly version: string;
  readonly manifest: Manifest;
  readonly createdAt: string;
}

interface RawVersion {
  model: string;
  version: string;
  manifest: string;
  created_at: string;
}

/**
 * Parsed manifests by their stored text, per isolate: every infer reads its version's row, and parsing
 * and validating the manifest (JSON and zod) was a tenth of an infer's CPU. Keyed by the text, not the
 * name, so a row that changes is parsed afresh; a few entries, oldest out.
 */
const parsedManifests = new Map<string, Manifest>();
const PARSED_MANIFESTS = 8;

function storedManifest(r: RawVersion): Manifest {
  const hit = parsedManifests.get(r.manifest);
  if (hit !== undefined) return hit;
  // Frozen: one object now serves many requests, so a change by one would leak into the next.
  const manifest = deepFreeze(
    parseManifest(JSON.parse(r.manifest), `stored manifest ${r.model} ${r.version}`),
  );
  if (parsedManifests.size >= PARSED_MANIFESTS) parsedManifests.delete(parsedManifests.keys().next().value!);
  parsedManifests.set(r.manifest, manifest);
  return manifest;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const toVersion = (r: RawVersion): VersionRow => ({
  model: r.model,
  version: r.version,
  manifest: storedManifest(r),
  createdAt: r.created_at,
});

export async function listVersions(
  db: D1Database,
): Promise<{ model: string; version: string; createdAt: string }[]> {
  const { results } = await db
    .prepare('SELECT model, version, created_at FROM versions ORDER BY model, created_at')
    .all<Omit<RawVersion, 'manifest'>>();
  return results.map((r) => ({ model: r.model, version: r.version, createdAt: r.created_at }));
}

export async function listAliases(
  db: D1Database,
): Promise<{ model: string; alias: string; version: string }[]> {
  const { results } = await db
    .prepare('SELECT model, alias, version FROM aliases ORDER BY model, alias')
    .all<{ model: string; alias: string; version: string }>();
  return results;
}

export async function getVersion(db: D1Database, model: string, version: string): Promise<VersionRow | null> {
  const row = await db
    .prepare('SELECT model, version, manifest, created_at FROM versions WHERE model = ? AND version = ?')
    .bind(model, version)
    .first<RawVersion>();
  return row === null ? null : toVersion(row);
}

export async function resolveAlias(db: D1Database, model: string, alias: string): Promise<string | null> {
  const row = await db
    .prepare('SELECT version FROM aliases WHERE model = ? AND alias = ?')
    .bind(model, alias)
    .first<{ version: string }>();
  return row?.version ?? null;
}

/** Moves `latest` of `model` onto `to` if it is still `from` (null: if there is none yet). */
function moveLatestStatement(
  db: D1Database,
  model: string,
  to: string,
  from: string | null,
  now: string,
): D1PreparedStatement {
  return from === null
    ? db
        .prepare(
          `INSERT INTO aliases (model, alias, version, updated_at) VALUES (?, 'latest', ?, ?)
           ON CONFLICT (model, alias) DO NOTHING`,
        )
        .bind(model, to, now)
    : db
        .prepare(
          `UPDATE aliases SET version = ?, updated_at = ? WHERE model = ? AND alias = 'latest' AND version = ?`,
        )
        .bind(to, now, model, from);
}

/** Compare-and-set of `latest`: true when it moved from `from` to `to`. */
export async function moveLatest(
  db: D1Database,
  model: string,
  to: string,
  from: string | null,
  now: string,
): Promise<boolean> {
  const result = await moveLatestStatement(db, model, to, from, now).run();
  return result.meta.changes === 1;
}

/**
 * Inserts a version and, with `moveLatestFrom`, moves `latest` onto it in the same D1 batch (one
 * transaction) if `latest` is still that version (null: there is none yet) — so a failure leaves
 * neither, never a visible version with `latest` left behind that a retry could not fix (it gets 409).
 * The row goes in only while every blob it names has its `blobs` row: orphan collection deletes that
 * row first (forgetOrphanBlob), so a version and the collection of one of its blobs cannot both happen.
 * `latestMoved` is false when `latest` changed meanwhile (see moveLatest).
 */
export async function insertVersion(
  db: D1Database,
  manifest: Manifest,
  now: string,
  options: { moveLatestFrom?: string | null } = {},
): Promise<{ outcome: 'inserted' | 'exists' | 'missing_blobs'; latestMoved: boolean }> {
  const { name, version } = manifest;
  const digests = [...new Set(manifest.files.map((f) => f.sha256))];
  // A NULL manifest (NOT NULL column) fails the whole batch when a blob row is missing.
  const statements = [
    db
      .prepare(
        `INSERT INTO versions (model, version, manifest, created_at) VALUES (?, ?,
           CASE WHEN (SELECT COUNT(*) FROM blobs WHERE sha256 IN (SELECT value FROM json_each(?))) = ?
           THEN ? END, ?)`,
      )
      .bind(name, version, JSON.stringify(digests), digests.length, JSON.stringify(manifest), now),
  ];
  const from = options.moveLatestFrom;
  if (from !== undefined) statements.push(moveLatestStatement(db, name, version, from, now));
  try {
    const [, moved] = await db.batch(statements);
    return { outcome: 'inserted', latestMoved: moved?.meta.changes === 1 };
  } catch (err) {
    // Constraint failures roll the batch back and name the cause; anything else is a storage fault.
    const message = (err as Error).message;
    if (/UNIQUE constraint failed/i.test(message)) return { outcome: 'exists', latestMoved: false };
    if (/NOT NULL constraint failed: versions\.manifest/i.test(message))
      return { outcome: 'missing_blobs', latestMoved: false };
    throw err;
  }
}

export async function setAlias(
  db: D1Database,
  model: string,
  alias: string,
  version: string,
  now: string,
): Promise<void> {
  await db
    .prepare(
      `INSERT INTO aliases (model, alias, version, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
    )
    .bind(model, alias, version, now)
    .run();
}

/** Deletes a version that no alias points to; 'aliased' names the aliases that block it. */
export async function deleteVersion(
  db: D1Database,
  model: string,
  version: string,
): Promise<{ deleted: boolean; aliases: string[] }> {
  const { results } = await db
    .prepare('SELECT alias FROM aliases WHERE model = ? AND version = ?')
    .bind(model, version)
    .all<{ alias: string }>();
  if (results.length > 0) return { deleted: false, aliases: results.map((r) => r.alias) };
  // The NOT EXISTS guard keeps an alias moved onto this version meanwhile from being left dangling.
  const result = await db
    .prepare(
      `DELETE FROM versions WHERE model = ? AND version = ?
       AND NOT EXISTS (SELECT 1 FROM aliases WHERE model = ? AND version = ?)`,
    )
    .bind(model, version, model, version)
    .run();
  return { deleted: result.meta.changes === 1, aliases: [] };
}

export async function recordBlob(db: D1Database, sha256: string, bytes: number, now: string): Promise<void> {
  await db
    .prepare('INSERT INTO blobs (sha256, bytes, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING')
    .bind(sha256, bytes, now)
    .run();
}

/** SQL true when some version's manifest names blob `?`. */
const NAMED_BY_A_VERSION = `EXISTS (SELECT 1 FROM versions, json_each(versions.manifest, '$.files') AS f
  WHERE json_extract(f.value, '$.sha256') = ?)`;

/** Every blob digest some version's manifest names. */
export async function referencedBlobs(db: D1Database): Promise<Set<string>> {
  const { results } = await db
    .prepare(
      `SELECT DISTINCT json_extract(f.value, '$.sha256') AS sha256
       FROM versions, json_each(versions.manifest, '$.files') AS f`,
    )
    .all<{ sha256: string }>();
  return new Set(results.map((r) => r.sha256));
}

/**
 * Deletes the `blobs` row of a blob no version names, in one transaction with that check; false (and
 * the row kept) when a version names it. Once it returns true no version naming the blob can be
 * inserted (insertVersion needs the row) until the blob is uploaded again, so its R2 object may go.
 */
export async function forgetOrphanBlob(db: D1Database, sha256: string): Promise<boolean> {
  const [, named] = await db.batch([
    db.prepare(`DELETE FROM blobs WHERE sha256 = ? AND NOT ${NAMED_BY_A_VERSION}`).bind(sha256, sha256),
    db.prepare(`SELECT ${NAMED_BY_A_VERSION} AS named`).bind(sha256),
  ]);
  return (named?.results[0] as { named: number } | undefined)?.named === 0;
}
