/**
 * @module
 * `rateLimit()`: a per-client fixed-window request limit for the CPU fallback infer endpoint, so one
 * client cannot keep the edge's CPU busy for everyone else. Over the limit a request gets 429
 * `rate_limited` with `Retry-After` (seconds until its window ends), before its body is read.
 *
 * The counter lives in D1 (`rate_limits`, one row per client and window), not in isolate memory: a
 * Worker runs in many isolates at once, each with its own memory, so an in-memory counter would let a
 * client multiply its limit by the number of isolates it reaches. One D1 statement increments and
 * reads the row atomically (D1 has one primary), so concurrent requests cannot both see room for the
 * last slot. The cost is one D1 write per infer — small beside an inference.
 *
 * A client is (1) a live bearer token (its id, so a client with a token keeps its own allowance behind a
 * shared address), else (2) `CF-Connecting-IP` (an IPv6 address by its /64, the block one subscriber
 * holds), else (3) one shared bucket for callers with neither (local tools). A bearer token that is
 * not known counts as no token: otherwise every made-up token would be a fresh allowance.
 *
 * Configured by `[vars]`: INFER_RATE_LIMIT requests per INFER_RATE_WINDOW_S seconds; a limit of 0
 * turns it off (the test configuration and local `wrangler dev` tools that run many infers).
 */

import type { MiddlewareHandler } from 'hono';
import { findToken } from './db/tokens.ts';
import { ApiError } from './errors.ts';

export interface RateLimitConfig {
  /** Requests one client may make per window; 0 = no limit. */
  readonly limit: number;
  readonly windowS: number;
}

/** The limit from `[vars]`; a malformed value is a deployment error, named. */
export function rateLimitConfig(env: { INFER_RATE_LIMIT?: string; INFER_RATE_WINDOW_S?: string }) {
  const limit = Number(env.INFER_RATE_LIMIT ?? '0');
  const windowS = Number(env.INFER_RATE_WINDOW_S ?? '60');
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw new Error(`INFER_RATE_LIMIT must be a whole number ≥ 0, got '${env.INFER_RATE_LIMIT}'`);
  if (!Number.isSafeInteger(windowS) || windowS < 1)
    throw new Error(`INFER_RATE_WINDOW_S must be a whole number ≥ 1, got '${env.INFER_RATE_WINDOW_S}'`);
  return { limit, windowS } satisfies RateLimitConfig;
}

/** An IPv6 address's first four hextets (its /64), or the address itself for IPv4. */
export function addressBlock(ip: string): string {
  if (!ip.includes(':')) return ip;
  // An IPv4-mapped address (::ffff:192.0.2.1) is that IPv4 client.
  const v4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (v4 !== null) return v4[1]!;
  const [head = '', tail = ''] = ip.toLowerCase().split('::', 2) as [string, string?];
  const left = head === '' ? [] : head.split(':');
  const right = ip.includes('::') && tail !== '' ? tail.split(':') : [];
  const hextets = ip.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${hextets
    .slice(0, 4)
    .map((h) => Number.parseInt(h || '0', 16).toString(16))
    .join(':')}::/64`;
}

/** Who a request counts against: `token:<id>`, `ip:<address or /64>` or `anonymous`. */
export async function clientKey(db: D1Database, headers: Headers): Promise<string> {
  const bearer = /^Bearer ([\x21-\x7e]{16,256})$/.exec(headers.get('authorization') ?? '');
  if (bearer !== null) {
    const token = await findToken(db, bearer[1]!);
    if (token !== null && !token.revoked) return `token:${token.id}`;
  }
  const ip = headers.get('cf-connecting-ip');
  if (ip !== null && ip !== '') return `ip:${addressBlock(ip)}`;
  return 'anonymous';
}

export interface RateLimitHit {
  readonly allowed: boolean;
  /** Requests counted against this client in the current window, this one included. */
  readonly count: number;
  /** Whole seconds until the window ends (≥ 1). */
  readonly retryAfterS: number;
}

/** Counts one request for `key` in the window that holds `nowMs`. */
export async function countRequest(
  db: D1Database,
  key: string,
  config: RateLimitConfig,
  nowMs: number,
): Promise<RateLimitHit> {
  const windowStart = Math.floor(nowMs / 1000 / config.windowS) * config.windowS;
  const row = await db
    .prepare(
      `INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1)
       ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING count`,
    )
    .bind(key, windowStart)
    .first<{ count: number }>();
  const count = row?.count ?? 1;
  // A client's first request in a window clears windows that have ended, so the table stays small.
  if (count === 1) await db.prepare('DELETE FROM rate_limits WHERE window_start < ?').bind(windowStart).run();
  const retryAfterS = Math.max(1, Math.ceil(windowStart + config.windowS - nowMs / 1000));
  return { allowed: count <= config.limit, count, retryAfterS };
}

/**
 * Limits POST requests on the routes it is mounted on; other methods pass uncounted (a CORS preflight
 * costs no inference).
 * @example
 * app.use('/v2/models/:name/infer', rateLimit());
 */
export function rateLimit(now: () => number = Date.now): MiddlewareHandler<{ Bindings: Env }> {
  return async function rateLimitMiddleware(c, next) {
    if (c.req.method !== 'POST') return next();
    const config = rateLimitConfig(c.env);
    if (config.limit === 0) return next();
    const key = await clientKey(c.env.DB, c.req.raw.headers);
    const hit = await countRequest(c.env.DB, key, config, now());
    if (!hit.allowed) {
      throw new ApiError(
        429,
        'rate_limited',
        `this client may make ${config.limit} inference requests per ${config.windowS} s; retry after ${hit.retryAfterS} s`,
        {
          'Retry-After': String(hit.retryAfterS),
          // The route's own CORS middleware does not run for a refused request; a page must still
          // be able to read the 429 and its Retry-After.
          'Access-Control-Allow-Origin': '*',
          'Access-Control-Expose-Headers': 'Retry-After',
        },
      );
    }
    await next();
  };
}
