/**
 * @module
 * The edge's CORS, one configuration for every route: `[vars]` CORS_ALLOW_ORIGINS (`*`, the default, or
 * a comma-separated list of origins) and CORS_ALLOW_HEADERS (request headers a preflight admits on top of
 * each route's own list, e.g. a header an app adds through the SDK's `fetch` option; default none).
 *
 * With `*` every origin may read (no credentials are ever allowed, so `*` is safe for public reads);
 * with a list only those origins get `Access-Control-Allow-Origin`, and every response varies by
 * `Origin`. A malformed value is a deployment error, named (as rateLimitConfig's are). Which requests
 * may be cross-origin at all (reads, and everything under /v2; never writes) is still security.ts's
 * decision: this module only says to whom and with which headers.
 */

import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

export interface CorsConfig {
  /** `*`, or the origins allowed, each `scheme://host[:port]` exactly as a browser sends it. */
  readonly origins: '*' | readonly string[];
  /** Request headers admitted in preflights besides a route's own. */
  readonly extraHeaders: readonly string[];
}

export interface CorsVars {
  CORS_ALLOW_ORIGINS?: string;
  CORS_ALLOW_HEADERS?: string;
}

/** An HTTP header name (RFC 9110 `token`). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An origin of a non-web scheme (an app shell's `capacitor://localhost`, an extension's). */
const OTHER_ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s,]+$/;

function isOrigin(value: string): boolean {
  if (!/^https?:\/\//i.test(value)) return OTHER_ORIGIN.test(value);
  // A browser sends the serialised origin: lower case, no default port, no path or trailing slash. A
  // configured value that differs from it would silently never match, so it is refused instead.
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

/**
 * The CORS configuration from `[vars]`; throws an Error naming the var for a malformed value.
 * @example
 * corsConfig({ CORS_ALLOW_ORIGINS: 'https://app.example', CORS_ALLOW_HEADERS: 'X-App-Version' });
 * // → { origins: ['https://app.example'], extraHeaders: ['X-App-Version'] }
 */
export function corsConfig(env: CorsVars): CorsConfig {
  const rawOrigins = (env.CORS_ALLOW_ORIGINS ?? '*').trim();
  const origins = rawOrigins === '*' ? '*' : rawOrigins.split(',').map((o) => o.trim());
  if (origins !== '*' && !origins.every(isOrigin)) {
    throw new Error(
      `CORS_ALLOW_ORIGINS must be '*' or a comma-separated list of origins such as https://app.example.com (scheme, host and port, no path), got '${env.CORS_ALLOW_ORIGINS}'`,
    );
  }
  const rawHeaders = (env.CORS_ALLOW_HEADERS ?? '').trim();
  const extraHeaders = rawHeaders === '' ? [] : rawHeaders.split(',').map((h) => h.trim());
  if (!extraHeaders.every((h) => HEADER_NAME.test(h))) {
    throw new Error(
      `CORS_ALLOW_HEADERS must be empty or a comma-separated list of header names such as X-App-Version, got '${env.CORS_ALLOW_HEADERS}'`,
    );
  }
  return Object.freeze({ origins, extraHeaders }) satisfies CorsConfig;
}

export interface RouteCors {
  readonly allowMethods: readonly string[];
  /** The route's own request headers; absent, a preflight admits whatever headers it asks for. */
  readonly allowHeaders?: readonly string[];
  readonly exposeHeaders?: readonly string[];
  readonly maxAge?: number;
}

/** The route's headers and the configured ones, each once (header names are case-insensitive). */
function mergeHeaders(own: readonly string[], extra: readonly string[]): string[] {
  const merged = [...own];
  const seen = new Set(own.map((h) => h.toLowerCase()));
  for (const h of extra) {
    if (seen.has(h.toLowerCase())) continue;
    seen.add(h.toLowerCase());
    merged.push(h);
  }
  return merged;
}

/**
 * hono's cors() with the origins and extra headers from `[vars]`, built again only when they change.
 * @example
 * blobs.use('/:sha256', edgeCors({ allowMethods: ['GET', 'HEAD', 'OPTIONS'], allowHeaders: ['Range'] }));
 */
export function edgeCors(route: RouteCors): MiddlewareHandler<{ Bindings: Env }> {
  let built: { key: string; handler: MiddlewareHandler } | undefined;
  return async function edgeCorsMiddleware(c, next) {
    const vars: CorsVars = c.env;
    const key = `${vars.CORS_ALLOW_ORIGINS}\n${vars.CORS_ALLOW_HEADERS}`;
    if (built?.key !== key) {
      const config = corsConfig(vars);
      built = {
        key,
        handler: cors({
          origin: config.origins === '*' ? '*' : [...config.origins],
          allowMethods: [...route.allowMethods],
          ...(route.allowHeaders === undefined
            ? {}
            : { allowHeaders: mergeHeaders(route.allowHeaders, config.extraHeaders) }),
          ...(route.exposeHeaders === undefined ? {} : { exposeHeaders: [...route.exposeHeaders] }),
          ...(route.maxAge === undefined ? {} : { maxAge: route.maxAge }),
        }),
      };
    }
    return built.handler(c, next);
  };
}

/**
 * The CORS headers of a response made before a route's cors() runs (the infer limiter's 401, 403 and
 * 429), so a page can read it: the same origins as the routes, and `expose` readable.
 */
export function corsHeadersFor(
  env: CorsVars,
  origin: string | undefined,
  expose: readonly string[],
): Record<string, string> {
  const { origins } = corsConfig(env);
  const exposed = { 'Access-Control-Expose-Headers': expose.join(', ') };
  if (origins === '*') return { 'Access-Control-Allow-Origin': '*', ...exposed };
  if (origin === undefined || !origins.includes(origin)) return { Vary: 'Origin' };
  return { 'Access-Control-Allow-Origin': origin, ...exposed, Vary: 'Origin' };
}
