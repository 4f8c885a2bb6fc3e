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
 * A client is (1) an app's or tool's bearer token (its id, so a client with a token keeps its own
 * allowance behind a shared address), else (2) `CF-Connecting-IP` (an IPv6 address by its /64, the block
 * one subscriber holds), else (3) one shared bucket for callers with neither (local tools). A token is
 * checked before anything is counted (auth.ts `authenticate`, the `infer` or `publish` scope): an
 * unknown, revoked or wrong-scope token is 401/403 — neither a fresh allowance nor silently anonymous.
 *
 * Configured by `[vars]`: anonymous clients may make INFER_RATE_LIMIT requests per INFER_RATE_WINDOW_S
 * seconds, token holders INFER_TOKEN_RATE_LIMIT; a limit of 0 turns that one off (the test
 * configuration and local `wrangler dev` tools that run many infers).
 */

import type { MiddlewareHandler } from 'hono';
import { authenticate } from './auth.ts';
import { corsHeadersFor } from './cors.ts';
import { ApiError } from './errors.ts';

export interface RateLimitConfig {
  /** Requests one anonymous client (an address, or the shared bucket) may make per window; 0 = no limit. */
  readonly limit: number;
  /** Requests one token may make per window; 0 = no limit. */
  readonly tokenLimit: number;
  readonly windowS: number;
}

type RateLimitVars = {
  INFER_RATE_LIMIT?: string;
  INFER_TOKEN_RATE_LIMIT?: string;
  INFER_RATE_WINDOW_S?: string;
};

/** The limits from `[vars]`; a malformed value is a deployment error, named. */
export function rateLimitConfig(env: RateLimitVars) {
  const count = (name: 'INFER_RATE_LIMIT' | 'INFER_TOKEN_RATE_LIMIT') => {
    const n = Number(env[name] ?? '0');
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`${name} must be a whole number ≥ 0, got '${env[name]}'`);
    return n;
  };
  const windowS = Number(env.INFER_RATE_WINDOW_S ?? '60');
  if (!Number.isSafeInteger(windowS) || windowS < 1)
    throw new Error(`INFER_RATE_WINDOW_S must be a whole number ≥ 1, got '${env.INFER_RATE_WINDOW_S}'`);
  return {
    limit: count('INFER_RATE_LIMIT'),
    tokenLimit: count('INFER_TOKEN_RATE_LIMIT'),
    windowS,
  } satisfies RateLimitConfig;
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

/** The scopes a token on an infer may hold: an app's own, or a publisher's. */
const INFER_SCOPES = ['infer', 'publish'] as const;

export interface InferClient {
  /** `token:<id>`, `ip:<address or /64>` or `anonymous`. */
  readonly key: string;
  readonly token: boolean;
}

/** Who a request counts against; throws ApiError 401/403 for a token that is sent but not good. */
export async function inferClient(db: D1Database, headers: Headers): Promise<InferClient> {
  const token = await authenticate(db, headers.get('authorization') ?? undefined, INFER_SCOPES);
  if (token !== null) return { key: `token:${token.id}`, token: true };
  const ip = headers.get('cf-connecting-ip');
  if (ip !== null && ip !== '') return { key: `ip:${addressBlock(ip)}`, token: false };
  return { key: 'anonymous', token: false };
}

export interface RateLimitHit {
  readonly allowed: boolean;
  /** Requests counted against this client in the current window, this one included. */
  readonly count: number;
  /** Whole seconds until the window ends (≥ 1). */
  readonly retryAfterS: number;
}

/** Counts one request for `key` in the window that holds `nowMs`, against `config.limit`. */
export async function countRequest(
  db: D1Database,
  key: string,
  config: { readonly limit: number; readonly windowS: number },
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
 * Checks the token and limits POST requests on the routes it is mounted on; other methods pass
 * unchecked and uncounted (a CORS preflight costs no inference).
 * @example
 * app.use('/v2/models/:name/infer', rateLimit());
 */
export function rateLimit(now: () => number = Date.now): MiddlewareHandler<{ Bindings: Env }> {
  return async function rateLimitMiddleware(c, next) {
    if (c.req.method !== 'POST') return next();
    const config = rateLimitConfig(c.env);
    // The route's own CORS middleware does not run for a request refused here; a page must still be
    // able to read the refusal (a wrong token, or the 429 and its Retry-After).
    const cors = () => corsHeadersFor(c.env, c.req.header('origin'), ['Retry-After', 'WWW-Authenticate']);
    let client: InferClient;
    try {
      client = await inferClient(c.env.DB, c.req.raw.headers);
    } catch (err) {
      if (err instanceof ApiError)
        throw new ApiError(err.status, err.code, err.message, { ...err.headers, ...cors() });
      throw err;
    }
    const limit = client.token ? config.tokenLimit : config.limit;
    if (limit === 0) return next();
    const hit = await countRequest(c.env.DB, client.key, { limit, windowS: config.windowS }, now());
    if (!hit.allowed) {
      throw new ApiError(
        429,
        'rate_limited',
        `this ${client.token ? 'token' : 'client'} may make ${limit} inference requests per ${config.windowS} s; retry after ${hit.retryAfterS} s`,
        { 'Retry-After': String(hit.retryAfterS), ...cors() },
      );
    }
    await next();
  };
}
