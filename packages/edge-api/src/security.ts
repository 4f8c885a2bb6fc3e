/**
 * @module
 * `securityHeaders()`: the headers every API response carries (errors and 404s included), and the one
 * place that decides which requests are cross-origin.
 *
 * The API serves JSON and bytes, never a page, so its Content-Security-Policy allows nothing
 * (`default-src 'none'`) and no page may frame it; `nosniff` keeps a browser from reading a blob or an
 * error as HTML or script; `no-referrer` keeps paths out of other sites' logs.
 *
 * CORS is by design for reads — manifests and blobs (GET/HEAD under /v1) and everything under /v2
 * (inference is the fallback for pages that cannot run a model) — and not for writes: publish, alias
 * moves, deletes and blob uploads are for the trainer's tools, not for pages. To which origins and with
 * which headers is cors.ts's (CORS_ALLOW_ORIGINS, CORS_ALLOW_HEADERS), whose middleware the routes use
 * and which answers preflights for what they serve; this middleware runs first and answers a preflight
 * for a write under /v1 itself, without any Access-Control-* header (so the browser refuses the write),
 * and strips Access-Control-* headers from write responses.
 */

import type { MiddlewareHandler } from 'hono';

export const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
} as const;

const READS = new Set(['GET', 'HEAD']);

/** Whether a request with this method (a preflight's requested one) to this path may be cross-origin. */
export function crossOriginAllowed(pathname: string, method: string): boolean {
  if (pathname === '/v2' || pathname.startsWith('/v2/')) return true;
  return READS.has(method.toUpperCase());
}

/**
 * @example
 * app.use('*', securityHeaders());
 */
export function securityHeaders(): MiddlewareHandler {
  const https = { ...SECURITY_HEADERS, 'Strict-Transport-Security': 'max-age=31536000' };
  return async function securityHeadersMiddleware(c, next) {
    const url = new URL(c.req.url);
    const headers = url.protocol === 'https:' ? https : SECURITY_HEADERS;
    const requested = c.req.header('access-control-request-method');
    if (
      c.req.method === 'OPTIONS' &&
      requested !== undefined &&
      !crossOriginAllowed(url.pathname, requested)
    ) {
      // A preflight for a write: answered, but with nothing that lets the browser go on.
      return new Response(null, { status: 204, headers: { ...headers, Vary: 'Origin' } });
    }
    await next();
    const strip = !crossOriginAllowed(url.pathname, c.req.method) && c.req.method !== 'OPTIONS';
    const apply = (target: Headers) => {
      if (strip) {
        for (const name of [...target.keys()]) if (name.startsWith('access-control-')) target.delete(name);
      }
      for (const [k, v] of Object.entries(headers)) target.set(k, v);
    };
    try {
      apply(c.res.headers);
    } catch {
      // A response with immutable headers (one passed through from fetch): copy it once. Clearing
      // c.res first keeps Hono from merging the old headers back into the copy.
      const copy = new Response(c.res.body, c.res);
      apply(copy.headers);
      c.res = undefined;
      c.res = copy;
    }
  };
}
