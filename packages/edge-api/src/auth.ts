/**
 * @module
 * Bearer tokens on requests. `requireScope('publish')`: a middleware that admits a request only with
 * `Authorization: Bearer <token>` naming a live token with that scope. `authenticate()`: the same check
 * where a token is optional (an infer, anonymous or an app's `infer` token) — without an Authorization
 * header it is anonymous, but a header that is there must name a live token with one of the scopes:
 * a wrong token is refused, never taken as anonymous, so the app learns that its token is wrong.
 * 401 for a malformed header or an unknown token, 403 for a revoked token or one without the scope.
 * The token is never logged or echoed.
 */

import type { MiddlewareHandler } from 'hono';
import { findToken, type Scope, type TokenRow } from './db/tokens.ts';
import { ApiError } from './errors.ts';

const BEARER = /^Bearer ([\x21-\x7e]{16,256})$/;

/**
 * The live token `header` names, holding one of `scopes`; null when there is no header. Throws ApiError
 * 401 (malformed, unknown) or 403 (revoked, none of the scopes).
 * @example
 * const token = await authenticate(c.env.DB, c.req.header('authorization'), ['infer', 'publish']);
 */
export async function authenticate(
  db: D1Database,
  header: string | undefined,
  scopes: readonly Scope[],
): Promise<TokenRow | null> {
  if (header === undefined) return null;
  const wanted = scopes.join(' or ');
  const challenge = { 'WWW-Authenticate': `Bearer realm="ecg-tmp", scope="${scopes.join(' ')}"` };
  const match = BEARER.exec(header);
  if (match === null) {
    throw new ApiError(
      401,
      'unauthorized',
      `this needs 'Authorization: Bearer <token>' with the ${wanted} scope`,
      challenge,
    );
  }
  const token = await findToken(db, match[1]!);
  if (token === null) throw new ApiError(401, 'unauthorized', 'the bearer token is not known', challenge);
  if (token.revoked) throw new ApiError(403, 'forbidden', 'the bearer token has been revoked');
  if (!scopes.some((s) => token.scopes.includes(s)))
    throw new ApiError(403, 'forbidden', `the bearer token lacks the ${wanted} scope`);
  return token;
}

export function requireScope(scope: Scope): MiddlewareHandler<{ Bindings: Env }> {
  return async function requireScopeMiddleware(c, next) {
    await authenticate(c.env.DB, c.req.header('authorization') ?? '', [scope]);
    await next();
  };
}
