/**
 * @module
 * Network access to the edge: JSON with retries, and weight files fetched, resumed and verified.
 *   - Retries network errors, 408/429 and 5xx with exponential backoff and full jitter.
 *   - A download that breaks mid-body resumes from the bytes it has (`Range` + `If-Range`, the blob's
 *     strong ETag); a server that answers 200 instead of 206 restarts it.
 *   - Bytes are checked against the manifest's size and sha256 (SubtleCrypto) before anyone sees them.
 */

import { IntegrityError, ModelNotFoundError, NetworkError } from '../errors.ts';

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

export interface FetchContext extends RetryOptions {
  readonly fetch: typeof fetch;
  readonly signal?: AbortSignal;
}

const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

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

function backoff(ctx: RetryOptions, attempt: number): number {
  const base = ctx.backoffMs ?? 250;
  return Math.random() * Math.min(base * 8, base * 2 ** attempt);
}

function retryAfterMs(res: Response): number | undefined {
  const value = res.headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) ? Math.min(seconds * 1000, 30_000) : undefined;
}

/** A short message from an error body `{ error: { message } }`, if there is one. */
async function serverMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: { message?: string } };
    return body.error?.message ?? '';
  } catch {
    return '';
  }
}

/** GET JSON with retries; 404 is a ModelNotFoundError carrying the server's message. */
export async function fetchJson(url: string, ctx: FetchContext, what: string): Promise<unknown> {
  const retries = ctx.retries ?? 4;
  let lastError: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await sleep(backoff(ctx, attempt), ctx.signal);
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
      const message = await serverMessage(res);
      throw new ModelNotFoundError(
        `${what} was not found at ${url}${message ? ` (${message})` : ''}; check the model name and version`,
      );
    }
    if (!RETRYABLE.has(res.status)) {
      throw new NetworkError(
        `${what}: ${url} answered ${res.status} ${await serverMessage(res)}`.trim(),
        res.status,
      );
    }
    lastError = new NetworkError(`${url} answered ${res.status}`, res.status);
    const wait = retryAfterMs(res);
    if (wait !== undefined && attempt < retries) await sleep(wait, ctx.signal);
  }
  throw new NetworkError(
    `${what}: ${url} could not be fetched after ${retries + 1} attempts; check the connection and edgeUrl`,
    undefined,
    {
      cause: lastError,
    },
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
    if (attempt > 0) await sleep(backoff(ctx, attempt), ctx.signal);
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
    if (res.body === null) {
      lastError = new NetworkError(`${file.url} sent no body`);
      continue;
    }
    const reader = res.body.getReader();
    // Not every fetch ties the body to its signal: cancel the read ourselves on abort or timeout.
    const cancel = () => void reader.cancel(signal.reason).catch(() => {});
    signal.addEventListener('abort', cancel, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
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
      if (err instanceof IntegrityError) throw err;
      lastError = err; // connection reset mid-body: resume from `received`
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    ctx.signal?.throwIfAborted();
    if (signal.aborted) lastError = signal.reason;
  }
  if (received < file.bytes) {
    throw new NetworkError(
      `${file.url} stopped at ${received} of ${file.bytes} bytes after ${retries + 1} attempts; try again when the connection is back`,
      undefined,
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
