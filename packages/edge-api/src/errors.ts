/**
 * @module
 * One error type and one wire shape for every failure: `{ "error": { "code", "message" } }` with an
 * HTTP status. Handlers throw ApiError; the app's onError turns it (or an InputError from
 * @ecg-tmp/core, or anything unexpected) into that shape — never a stack trace.
 */

import { InputError } from '@ecg-tmp/core';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} does not exist`);

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** The app's onError: every thrown value becomes a JSON error. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(errorBody(err.code, err.message), err.status);
  }
  if (err instanceof InputError) return c.json(errorBody(err.code, err.message), 400);
  // Hono's own HTTPExceptions (e.g. from the body-limit middleware) carry a status.
  const status = (err as { status?: number }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return c.json(errorBody('bad_request', err.message || 'bad request'), status as ContentfulStatusCode);
  }
  console.error(
    `unhandled error on ${c.req.method} ${new URL(c.req.url).pathname}: ${err.name}: ${err.message}`,
  );
  return c.json(errorBody('internal', 'the server failed to handle this request; it has been logged'), 500);
}
