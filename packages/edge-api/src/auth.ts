/**
 * @module
 * `requireScope('publish')`: a middleware that admits a request only with `Authorization: Bearer <token>`
 * naming a live token with that scope. 401 without a (known) token, 403 for a revoked token or one
 * without the scope. The token is never logged or echoed.
 */

import type { MiddlewareHandler } from 'hono';
import { findToken, type Scope } from './db/tokens.ts';
import { ApiError } from './errors.ts';

export function requireScope(scope: Scope): MiddlewareHandler<{ Bindings: Env }> {
  return async function requireScopeMiddleware(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer ([\x21-\x7e]{16,256})$/.exec(header);
    const challenge = { 'WWW-Authenticate': `Bearer realm="ecg-tmp", scope="${scope}"` };
    if (match === null) {
      throw new ApiError(
        401,
        'unauthorized',
        `this needs 'Authorization: Bearer <token>' with the ${scope} scope`,
        challenge,
      );
    }
    const token = await findToken(c.env.DB, match[1]!);
    if (token === null) throw new ApiError(401, 'unauthorized', 'the bearer token is not known', challenge);
    if (token.revoked) throw new ApiError(403, 'forbidden', 'the bearer token has been revoked');
    if (!token.scopes.includes(scope))
      throw new ApiError(403, 'forbidden', `the bearer token lacks the ${scope} scope`);
    await next();
  };
}
