/**
 * @module
 * Content-addressed weight blobs: `GET|HEAD /v1/blobs/:sha256` serves R2 object `sha256/<digest>` with a
 * strong ETag (the digest), immutable caching, If-None-Match → 304 (answered without touching R2: the
 * digest *is* the content), single byte ranges → 206 / 416 so mobile clients can resume, CORS for the
 * configured origins (src/cors.ts). `PUT /v1/blobs/:sha256` (publish scope) uploads one blob, checked against its digest — for
 * files too large to publish in one multipart request.
 */

import { Hono } from 'hono';
import { requireScope } from '../auth.ts';
import { readBody } from '../body.ts';
import { edgeCors } from '../cors.ts';
import { recordBlob, sha256Hex } from '../db/index.ts';
import { ApiError, guardStorage } from '../errors.ts';
import { digest } from '../names.ts';

export const MAX_BLOB_BYTES = 64 * 1024 * 1024;

export const blobKey = (sha256: string) => `sha256/${sha256}`;

const IMMUTABLE = 'public, max-age=31536000, immutable';

type Range = { offset: number; length: number };

/** One `bytes=` range against a size: a Range, 'all' (absent, multi-range or not bytes) or 'unsatisfiable'. */
export function parseRange(header: string | undefined, size: number): Range | 'all' | 'unsatisfiable' {
  if (header === undefined) return 'all';
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return 'all';
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return 'all';
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(a);
  if (start >= size) return 'unsatisfiable';
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return 'unsatisfiable';
  return { offset: start, length: end - start + 1 };
}

function etagMatches(header: string | undefined, sha256: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === `"${sha256}"`);
}

export const blobs = new Hono<{ Bindings: Env }>();

blobs.use(
  '/:sha256',
  edgeCors({
    allowMethods: ['GET', 'HEAD', 'OPTIONS'],
    allowHeaders: ['Range', 'If-None-Match', 'If-Range'],
    exposeHeaders: ['ETag', 'Content-Length', 'Content-Range', 'Accept-Ranges'],
    maxAge: 86400,
  }),
);

blobs.on(['GET', 'HEAD'], '/:sha256', async (c) => {
  const sha256 = digest(c.req.param('sha256'));
  const common = { ETag: `"${sha256}"`, 'Cache-Control': IMMUTABLE, 'Accept-Ranges': 'bytes' };
  if (etagMatches(c.req.header('if-none-match'), sha256)) return c.body(null, 304, common);
  const head = await c.env.BLOBS.head(blobKey(sha256));
  if (head === null) throw new ApiError(404, 'not_found', `no blob ${sha256}`);
  const size = head.size;
  // If-Range with another validator means the client's partial copy is stale: send it all.
  const ifRange = c.req.header('if-range');
  const range =
    ifRange !== undefined && !etagMatches(ifRange, sha256) ? 'all' : parseRange(c.req.header('range'), size);
  const headers: Record<string, string> = { ...common, 'Content-Type': 'application/octet-stream' };
  if (range === 'unsatisfiable') {
    throw new ApiError(416, 'range_not_satisfiable', `the blob has ${size} bytes`, {
      'Content-Range': `bytes */${size}`,
    });
  }
  const partial = range !== 'all';
  const length = partial ? range.length : size;
  headers['Content-Length'] = String(length);
  if (partial) headers['Content-Range'] = `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`;
  const status = partial ? 206 : 200;
  if (c.req.method === 'HEAD') return c.body(null, status, headers);
  const object = await c.env.BLOBS.get(blobKey(sha256), partial ? { range } : {});
  if (object === null) throw new ApiError(404, 'not_found', `no blob ${sha256}`);
  // Through a stream of known length, so the response keeps its Content-Length whatever the body is
  // (the storage deadline's body is a plain stream); a body cut short errors the response, never pads it.
  const { readable, writable } = new FixedLengthStream(length);
  object.body.pipeTo(writable).catch(() => {});
  return c.body(readable, status, headers);
});

blobs.put('/:sha256', requireScope('publish'), async (c) => {
  const sha256 = digest(c.req.param('sha256'));
  const bytes = await readBody(
    c.req.raw,
    MAX_BLOB_BYTES,
    () => new ApiError(413, 'too_large', `a blob may have at most ${MAX_BLOB_BYTES} bytes`),
  );
  if (bytes.length === 0) throw new ApiError(400, 'empty_blob', 'the body is empty');
  const actual = await sha256Hex(bytes);
  if (actual !== sha256) {
    throw new ApiError(422, 'digest_mismatch', `the body's sha256 is ${actual}, not ${sha256}`);
  }
  await guardStorage(`storing blob ${sha256}`, () => storeBlob(c.env, sha256, bytes));
  return c.json({ sha256, bytes: bytes.length }, 201);
});

/** Puts a verified blob into R2 (R2 re-checks the digest) and records it. Idempotent. */
export async function storeBlob(env: Env, sha256: string, bytes: Uint8Array): Promise<void> {
  await env.BLOBS.put(blobKey(sha256), bytes, {
    sha256,
    httpMetadata: { contentType: 'application/octet-stream' },
  });
  await recordBlob(env.DB, sha256, bytes.length, new Date().toISOString());
}
