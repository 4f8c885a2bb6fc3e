/**
 * @module
 * Network access to the edge: JSON with retries, and weight files fetched, resumed and verified.
 *   - Retries network errors, 408/425/429 and 5xx with exponential backoff and full jitter (a random
 *     wait in [0, min(8, 2^attempt) × backoffMs], so clients that failed together do not come back
 *     together); a `Retry-After` the server sends is the least it waits. Each wait is reported.
 *   - A download that breaks mid-body resumes from the bytes it has (`Range` + `If-Range`, the blob's
 *     strong ETag); a server that answers 200 instead of 206 restarts it.
 *   - Bytes are checked against the manifest's size and sha256 (sha256.ts) before anyone sees them:
 *     a server that declares (Content-Length, Content-Range) or sends a whole blob of another length is
 *     an IntegrityError at once, not retried as if the connection had dropped.
 */

import { IntegrityError, ModelNotFoundError, NetworkError } from '../errors.ts';
import { sha256Hex } from './sha256.ts';

export interface RetryOptions {
  /** Attempts after the first. Default 4. */
  readonly retries?: number;
  /** First backoff in ms (doubles each retry, full jitter, capped at 8× this). Default 250. */
  readonly backoffMs?: number;
  /**
   * Longest one attempt may take, in ms (default 30 000). A download cut off by it keeps its bytes and
   * resumes on the next attempt, so slow links still finish.
   */
  readonly timeoutMs?: number;
}

/** The signal for one attempt: the caller's, or the attempt's own timeout, whichever fires first. */
export function attemptSignal(ctx: FetchContext): AbortSignal {
  const timeout = AbortSignal.timeout(ctx.timeoutMs ?? 30_000);
  return ctx.signal === undefined ? timeout : AbortSignal.any([ctx.signal, timeout]);
}

/** One wait before a retry, as reported to `FetchContext.onRetry`. */
export interface RetryEvent {
  readonly url: string;
  /** The attempt about to be made (1 = the first retry). */
  readonly attempt: number;
  readonly delayMs: number;
  /** What went wrong with the previous attempt. */
  readonly reason: string;
}

export interface FetchContext extends RetryOptions {
  readonly fetch: typeof fetch;
  readonly signal?: AbortSignal;
  readonly onRetry?: (event: RetryEvent) => void;
}

const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Full jitter: uniform in [0, min(8, 2^attempt) × backoffMs]. */
export function backoff(ctx: RetryOptions, attempt: number): number {
  const base = ctx.backoffMs ?? 250;
  return Math.random() * Math.min(base * 8, base * 2 ** attempt);
}

function explain(err: unknown): string {
  if (err instanceof Error)
    return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  return String(err);
}

/**
 * Waits before retry `attempt` (≥ 1) of `url`: the jittered backoff, or the server's Retry-After when
 * that is longer; rejects with the caller's abort reason if it aborts meanwhile.
 */
export async function pauseBeforeRetry(
  ctx: FetchContext,
  url: string,
  attempt: number,
  lastError: unknown,
  retryAfter?: number,
): Promise<void> {
  const delayMs = Math.max(backoff(ctx, attempt), retryAfter ?? 0);
  ctx.onRetry?.({ url, attempt, delayMs, reason: explain(lastError) });
  await sleep(delayMs, ctx.signal);
}

function retryAfterMs(res: Response): number | undefined {
  const value = res.headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? Math.min(seconds * 1000, 30_000) : undefined;
}

/**
 * The whole blob's length as the response declares it: Content-Range's total on a 206, Content-Length
 * on a 200 that is not content-encoded (a compressed body's length is not the blob's).
 */
function declaredLength(res: Response): number | undefined {
  if (res.status === 206) {
    const total = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
    return total === null ? undefined : Number(total[1]);
  }
  const length = res.headers.get('content-length');
  if (length === null || res.headers.has('content-encoding')) return undefined;
  const n = Number(length);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Where a 206's bytes start (Content-Range: bytes START-END/TOTAL); undefined when it does not say. */
function rangeStart(res: Response): number | undefined {
  const m = /^bytes\s+(\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m === null ? undefined : Number(m[1]);
}

/** How much of an error body that is not the edge's JSON (a proxy's HTML page, plain text) is kept. */
const RAW_ERROR_CHARS = 200;

/**
 * The code and message of an error body `{ error: { code, message } }` (both Workers answer so); for any
 * other body, its text, cut to RAW_ERROR_CHARS (a proxy's or CDN's own error page); '' if unreadable.
 */
export async function serverError(res: Response): Promise<{ code?: string; message: string }> {
  let text: string;
  try {
    text = await res.text();
  } catch {
    return { message: '' };
  }
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof error?.message === 'string')
      return typeof error.code === 'string'
        ? { code: error.code, message: error.message }
        : { message: error.message };
  } catch {
    // Not JSON: the text below.
  }
  const raw = text.trim();
  return { message: raw.length > RAW_ERROR_CHARS ? `${raw.slice(0, RAW_ERROR_CHARS)}…` : raw };
}

/** GET JSON with retries; 404 is a ModelNotFoundError carrying the server's message. */
export async function fetchJson(url: string, ctx: FetchContext, what: string): Promise<unknown> {
  const retries = ctx.retries ?? 4;
  let lastError: unknown;
  let retryAfter: number | undefined;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await pauseBeforeRetry(ctx, url, attempt, lastError, retryAfter);
    retryAfter = undefined;
    let res: Response;
    try {
      res = await ctx.fetch(url, { signal: attemptSignal(ctx), headers: { Accept: 'application/json' } });
    } catch (err) {
      ctx.signal?.throwIfAborted();
      lastError = err;
      continue;
    }
    if (res.ok) {
      try {
        return await res.json();
      } catch (err) {
        ctx.signal?.throwIfAborted();
        lastError = err; // cut off mid-body or not JSON: try again
        continue;
      }
    }
    if (res.status === 404) {
      const server = await serverError(res);
      throw new ModelNotFoundError(
        `${what} was not found at ${url}${server.message ? ` (${server.message})` : ''}; check the model name and version`,
        server,
      );
    }
    if (!RETRYABLE.has(res.status)) {
      throw new NetworkError(
        `${what}: ${url} answered ${res.status} ${(await serverError(res)).message}`.trim(),
        res.status,
      );
    }
    lastError = new NetworkError(`${url} answered ${res.status}`, res.status);
    retryAfter = retryAfterMs(res);
  }
  throw new NetworkError(
    `${what}: ${url} could not be fetched after ${retries + 1} attempts; check the connection and edgeUrl`,
    lastError instanceof NetworkError ? lastError.status : undefined,
    { cause: lastError },
  );
}

export interface ExpectedFile {
  readonly url: string;
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * Downloads one file, resuming after interruptions, and verifies it. `onBytes(loaded)` reports progress.
 * @example
 * const bytes = await fetchVerified({ url, sha256, bytes: 853168 }, { fetch }, (n) => bar(n));
 */
export async function fetchVerified(
  file: ExpectedFile,
  ctx: FetchContext,
  onBytes: (loaded: number) => void = () => {},
): Promise<Uint8Array> {
  const retries = ctx.retries ?? 4;
  const buffer = new Uint8Array(file.bytes);
  let received = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt <= retries && received < file.bytes; attempt++) {
    if (attempt > 0) await pauseBeforeRetry(ctx, file.url, attempt, lastError);
    const headers: Record<string, string> = {};
    if (received > 0) {
      headers.Range = `bytes=${received}-`;
      headers['If-Range'] = `"${file.sha256}"`;
    }
    let res: Response;
    const signal = attemptSignal(ctx);
    try {
      res = await ctx.fetch(file.url, { signal, headers });
    } catch (err) {
      ctx.signal?.throwIfAborted();
      lastError = err;
      continue;
    }
    if (res.status === 404) {
      throw new ModelNotFoundError(
        `the file ${file.url} is missing on the server; the model version may have been deleted`,
      );
    }
    if (res.status === 416 && received > 0) {
      received = 0; // our partial copy does not fit the server's blob: start over
      lastError = new NetworkError(`${file.url} refused the resume range`, 416);
      continue;
    }
    if (res.status !== 200 && res.status !== 206) {
      lastError = new NetworkError(`${file.url} answered ${res.status}`, res.status);
      if (!RETRYABLE.has(res.status)) throw lastError;
      continue;
    }
    if (res.status === 200) received = 0;
    const declared = declaredLength(res);
    if (declared !== undefined && declared !== file.bytes) {
      void res.body?.cancel().catch(() => {});
      throw new IntegrityError(
        `${file.url} is ${declared} bytes on the server, the manifest says ${file.bytes}; the blob does not match its manifest (nothing was cached)`,
      );
    }
    const start = rangeStart(res);
    if (res.status === 206 && start !== undefined && start !== received) {
      // Not the bytes we asked for: start over rather than splice in the wrong place.
      void res.body?.cancel().catch(() => {});
      received = 0;
      lastError = new NetworkError(`${file.url} answered a Range request with another range`, 206);
      continue;
    }
    if (res.body === null) {
      lastError = new NetworkError(`${file.url} sent no body`);
      continue;
    }
    const reader = res.body.getReader();
    // Not every fetch ties the body to its signal: cancel the read ourselves on abort or timeout.
    const cancel = () => void reader.cancel(signal.reason).catch(() => {});
    signal.addEventListener('abort', cancel, { once: true });
    const from = received;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          // A body that ends cleanly was all the server meant to send (a dropped connection is an
          // error, not an end): a whole blob that is short is the server's blob, not a bad link.
          if (res.status === 200 && from === 0 && received < file.bytes && !signal.aborted) {
            throw new IntegrityError(
              `${file.url} sent ${received} bytes, the manifest says ${file.bytes}; the blob does not match its manifest (nothing was cached)`,
            );
          }
          break;
        }
        if (received + value.length > file.bytes) {
          throw new IntegrityError(
            `${file.url} sent more than the manifest's ${file.bytes} bytes; the blob does not match its manifest`,
          );
        }
        buffer.set(value, received);
        received += value.length;
        onBytes(received);
      }
    } catch (err) {
      if (err instanceof IntegrityError) {
        cancel();
        throw err;
      }
      lastError = err; // connection reset mid-body: resume from `received`
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    ctx.signal?.throwIfAborted();
    if (signal.aborted) lastError = signal.reason;
  }
  if (received < file.bytes) {
    throw new NetworkError(
      `${file.url} stopped at ${received} of ${file.bytes} bytes after ${retries + 1} attempts (last: ${explain(lastError)}); try again when the connection is back`,
      lastError instanceof NetworkError ? lastError.status : undefined,
      { cause: lastError },
    );
  }
  const digest = await sha256Hex(buffer);
  if (digest !== file.sha256) {
    throw new IntegrityError(
      `${file.url} has sha256 ${digest}, the manifest says ${file.sha256}; the bytes were discarded`,
    );
  }
  return buffer;
}
