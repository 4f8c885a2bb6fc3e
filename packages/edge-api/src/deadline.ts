/**
 * @module
 * A deadline on every D1 and R2 call: `storageDeadline()` wraps the request's `DB` and `BLOBS` so that
 * a call which has not settled within STORAGE_TIMEOUT_MS (`[vars]`, default 10 s) rejects with a 503
 * `storage_timeout` and `Retry-After`, which the app's onError sends as usual. A stalled binding then
 * costs a client one bounded wait, never a hung request.
 *
 * The call itself cannot be cancelled and may still finish after the 503; every write is ordered so
 * that a retry of the whole request is safe (the publish flow writes blobs first and the version row
 * last, and a second publish of the same files is accepted as already there). A blob GET streams its
 * body after the headers are sent, so there the deadline cannot become a 503: instead the body keeps an
 * idle deadline — a read that brings no bytes within STORAGE_TIMEOUT_MS ends the stream with an error,
 * and the client sees a response cut short (its declared Content-Length unmet), which it can resume with
 * a Range request, rather than a connection that hangs.
 */

import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.ts';

/** The default deadline: far above a healthy D1 query (milliseconds) or a 64 MiB R2 put (seconds). */
export const DEFAULT_STORAGE_TIMEOUT_MS = 10_000;

type Timed = <T>(what: string, call: () => Promise<T>) => Promise<T>;

function timer(ms: number): Timed {
  return (what, call) => {
    let handle: ReturnType<typeof setTimeout> | null = null;
    const expired = new Promise<never>((_, reject) => {
      handle = setTimeout(() => {
        console.error(`storage did not answer within ${ms} ms: ${what}`);
        reject(
          new ApiError(
            503,
            'storage_timeout',
            `storage did not answer within ${ms} ms (${what}); retry the request`,
            { 'Retry-After': '1' },
          ),
        );
      }, ms);
    });
    return Promise.race([call(), expired]).finally(() => clearTimeout(handle));
  };
}

const R2_CALLS = new Set(['head', 'get', 'put', 'delete', 'list']);
const OBJECT_READS = new Set(['arrayBuffer', 'text', 'json', 'blob', 'bytes']);

/**
 * `body` with an idle deadline: each read keeps the storage deadline, and one that brings nothing in time
 * errors the stream (and cancels the source), so a transfer that stalls after its headers ends instead of
 * hanging.
 */
function idleDeadline(
  body: ReadableStream<Uint8Array>,
  timed: Timed,
  what: string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await timed(what, () => reader.read());
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        reader.cancel(err).catch(() => {});
        controller.error(err);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * An R2 object whose whole-body reads (arrayBuffer, text, …) keep the deadline, and whose `body` stream
 * keeps it as an idle deadline per read.
 */
function timedObject<T>(object: T, timed: Timed, key: string): T {
  if (object === null || typeof object !== 'object' || !('arrayBuffer' in object)) return object;
  let body: ReadableStream<Uint8Array> | undefined;
  return new Proxy(object, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === 'body' && value instanceof ReadableStream) {
        body ??= idleDeadline(value as ReadableStream<Uint8Array>, timed, `R2 body read of ${key}`);
        return body;
      }
      if (typeof value !== 'function') return value;
      if (typeof prop === 'string' && OBJECT_READS.has(prop))
        return (...args: unknown[]) =>
          timed(`R2 ${prop} of ${key}`, () => Promise.resolve(value.apply(target, args)));
      return value.bind(target);
    },
  });
}

function timedBucket(bucket: R2Bucket, timed: Timed): R2Bucket {
  return new Proxy(bucket, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof prop !== 'string' || !R2_CALLS.has(prop)) return value.bind(target);
      return async (...args: unknown[]) => {
        const key = typeof args[0] === 'string' ? args[0] : '';
        const result = await timed(`R2 ${prop}${key ? ` ${key}` : ''}`, () =>
          Promise.resolve(value.apply(target, args)),
        );
        return prop === 'get' ? timedObject(result, timed, key) : result;
      };
    },
  });
}

function timedDatabase(db: D1Database, timed: Timed): D1Database {
  // A real batch needs the real statements, not their wrappers.
  const real = new WeakMap<object, D1PreparedStatement>();
  const statement = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const what = (method: string) => `D1 ${method} ${sql.replace(/\s+/g, ' ').slice(0, 60)}`;
    const wrapped = new Proxy(stmt, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'bind') return (...args: unknown[]) => statement(value.apply(target, args), sql);
        if (prop === 'first' || prop === 'all' || prop === 'run' || prop === 'raw')
          return (...args: unknown[]) => timed(what(prop), () => Promise.resolve(value.apply(target, args)));
        return value.bind(target);
      },
    });
    real.set(wrapped, stmt);
    return wrapped;
  };
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'prepare') return (sql: string) => statement(value.call(target, sql), sql);
      if (prop === 'batch')
        return (statements: D1PreparedStatement[]) =>
          timed(`D1 batch of ${statements.length}`, () =>
            Promise.resolve(
              value.call(
                target,
                statements.map((s) => real.get(s) ?? s),
              ),
            ),
          );
      if (prop === 'exec')
        return (sql: string) => timed('D1 exec', () => Promise.resolve(value.call(target, sql)));
      return value.bind(target);
    },
  });
}

/** The env with its D1 and R2 bindings held to a deadline of `ms` per call. */
export function withStorageDeadline<E extends { DB: D1Database; BLOBS: R2Bucket }>(env: E, ms: number): E {
  const timed = timer(ms);
  // A child of the env, not a copy: whatever the env has, own or inherited, stays readable.
  return Object.create(env, {
    DB: { value: timedDatabase(env.DB, timed), enumerable: true },
    BLOBS: { value: timedBucket(env.BLOBS, timed), enumerable: true },
  }) as E;
}

/** STORAGE_TIMEOUT_MS from `[vars]`, checked: a whole number of milliseconds ≥ 1. */
export function storageTimeoutMs(env: { STORAGE_TIMEOUT_MS?: string }): number {
  const raw = env.STORAGE_TIMEOUT_MS;
  if (raw === undefined) return DEFAULT_STORAGE_TIMEOUT_MS;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms < 1)
    throw new Error(`STORAGE_TIMEOUT_MS must be a whole number of milliseconds ≥ 1, got '${raw}'`);
  return ms;
}

/**
 * Middleware: every D1/R2 call the rest of the request makes keeps the deadline.
 * @example
 * app.use('*', storageDeadline());
 */
export function storageDeadline<
  E extends { Bindings: { DB: D1Database; BLOBS: R2Bucket; STORAGE_TIMEOUT_MS?: string } },
>(): MiddlewareHandler<E> {
  return async function storageDeadline(c, next) {
    c.env = withStorageDeadline(c.env, storageTimeoutMs(c.env));
    await next();
  };
}
