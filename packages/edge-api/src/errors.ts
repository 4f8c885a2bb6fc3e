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

/**
 * Runs one R2/D1 call of a write; if storage fails, a 503 `storage_unavailable` with Retry-After (a
 * publisher should retry: the write left nothing visible) instead of a 500, the cause logged here.
 */
export async function guardStorage<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    console.error(`storage failed while ${what}: ${(err as Error).name}: ${(err as Error).message}`);
    throw new ApiError(
      503,
      'storage_unavailable',
      `storage failed while ${what}; retry the request`,
      {
        'Retry-After': '1',
      },
      { cause: err },
    );
  }
}

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
