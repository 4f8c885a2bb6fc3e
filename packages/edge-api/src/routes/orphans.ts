/**
 * @module
 * Orphan blobs under /v1/admin/orphans (publish scope): blobs in R2 that no version's manifest names —
 * what a publish that failed after storing some of its blobs leaves behind, or what deleting a version
 * frees.
 *   GET  /?min_age=SECONDS          every orphan with its size, upload time and age, and whether it is
 *                                   old enough to collect
 *   POST /collect?min_age=SECONDS   deletes the orphans older than min_age; lists what it deleted
 * min_age defaults to an hour, so the blobs of a publish in flight (stored a moment before its version
 * row) are not collected. Should a publish still name a blob collected meanwhile (one uploaded with
 * PUT /v1/blobs long before its manifest), its version is refused with 422 `missing_blob`, never
 * published torn: collection deletes the blob's D1 row first, in one transaction with the check that no
 * version names it, and a version row goes in only while all its blob rows exist.
 */

import { Hono } from 'hono';
import { requireScope } from '../auth.ts';
import { forgetOrphanBlob, referencedBlobs } from '../db/index.ts';
import { ApiError } from '../errors.ts';
import { blobKey } from './blobs.ts';

export const DEFAULT_ORPHAN_MIN_AGE_S = 3600;

const PREFIX = 'sha256/';
const MAX_MIN_AGE_S = 10 * 365 * 86400;

export interface Orphan {
  readonly sha256: string;
  readonly bytes: number;
  readonly uploaded: string;
  readonly ageSeconds: number;
  readonly collectable: boolean;
}

function minAge(param: string | undefined): number {
  if (param === undefined) return DEFAULT_ORPHAN_MIN_AGE_S;
  const value = Number(param);
  if (!/^\d+$/.test(param) || value > MAX_MIN_AGE_S)
    throw new ApiError(
      400,
      'bad_query',
      `min_age must be whole seconds from 0 to ${MAX_MIN_AGE_S}, got '${param}'`,
    );
  return value;
}

/** Every blob in R2 that no version names, each with whether it is older than `minAgeS`. */
export async function findOrphans(bucket: R2Bucket, db: D1Database, minAgeS: number): Promise<Orphan[]> {
  const objects: R2Object[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: PREFIX, ...(cursor === undefined ? {} : { cursor }) });
    objects.push(...page.objects);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  const named = await referencedBlobs(db);
  const now = Date.now();
  return objects
    .filter((o) => !named.has(o.key.slice(PREFIX.length)))
    .map((o) => {
      const ageSeconds = Math.max(0, Math.floor((now - o.uploaded.getTime()) / 1000));
      return {
        sha256: o.key.slice(PREFIX.length),
        bytes: o.size,
        uploaded: o.uploaded.toISOString(),
        ageSeconds,
        collectable: ageSeconds >= minAgeS,
      };
    });
}

/**
 * Deletes the collectable orphans: per blob, its D1 row (only while no version names it), then — if its
 * R2 object is still the one listed, not uploaded again since — the object.
 */
export async function collectOrphans(
  bucket: R2Bucket,
  db: D1Database,
  minAgeS: number,
): Promise<{ collected: Orphan[]; kept: number }> {
  const orphans = await findOrphans(bucket, db, minAgeS);
  const collected: Orphan[] = [];
  for (const orphan of orphans.filter((o) => o.collectable)) {
    if (!(await forgetOrphanBlob(db, orphan.sha256))) continue;
    const head = await bucket.head(blobKey(orphan.sha256));
    if (head === null || head.uploaded.toISOString() !== orphan.uploaded) continue;
    await bucket.delete(blobKey(orphan.sha256));
    collected.push(orphan);
  }
  return { collected, kept: orphans.length - collected.length };
}

export const orphans = new Hono<{ Bindings: Env }>();

orphans.use('*', requireScope('publish'));

orphans.get('/', async (c) => {
  const minAgeSeconds = minAge(c.req.query('min_age'));
  const found = await findOrphans(c.env.BLOBS, c.env.DB, minAgeSeconds);
  return c.json({
    minAgeSeconds,
    bytes: found.reduce((sum, o) => sum + o.bytes, 0),
    orphans: found,
  });
});

orphans.post('/collect', async (c) => {
  const minAgeSeconds = minAge(c.req.query('min_age'));
  const { collected, kept } = await collectOrphans(c.env.BLOBS, c.env.DB, minAgeSeconds);
  return c.json({
    minAgeSeconds,
    bytesFreed: collected.reduce((sum, o) => sum + o.bytes, 0),
    collected,
    kept,
  });
});
