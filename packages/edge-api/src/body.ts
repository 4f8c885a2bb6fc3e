/**
 * @module
 * Request bodies read with a ceiling, for every route that takes one. The declared `Content-Length`
 * is checked first (a value that is not a whole number is a 400, one over the ceiling a 413 before any
 * byte is read), then the body is streamed and counted: a body that passes the ceiling is a 413 as soon
 * as it does, whatever the header said (or with none, a chunked upload), and what was read is dropped.
 * A body whose length differs from the one declared is a 400: its sender and this Worker disagree on
 * what was sent, so nothing in it is trusted. A route that takes no body (a delete, an orphan
 * collection) never reads one, so none of this applies to it.
 */

import { ApiError } from './errors.ts';

/** The Content-Length header as a number, or null without one; 400/413 for a bad or too large one. */
export function declaredLength(request: Request, max: number, tooLarge: () => ApiError): number | null {
  const header = request.headers.get('content-length');
  if (header === null) return null;
  if (!/^\d{1,15}$/.test(header.trim()))
    throw new ApiError(
      400,
      'bad_content_length',
      `Content-Length must be a whole number of bytes, got '${header.slice(0, 40)}'`,
    );
  const declared = Number(header.trim());
  if (declared > max) throw tooLarge();
  return declared;
}

/** A 400 for a body whose length is not the declared one (null: nothing declared, nothing to check). */
export function checkLength(declared: number | null, actual: number): void {
  if (declared !== null && declared !== actual)
    throw new ApiError(
      400,
      'bad_content_length',
      `the body has ${actual} bytes but its Content-Length says ${declared}`,
    );
}

/** Reads a stream to its end, at most `max` bytes (413 and the stream cancelled past that). */
export async function readAtMost(
  stream: ReadableStream<Uint8Array>,
  max: number,
  tooLarge: () => ApiError,
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * The request's body, at most `max` bytes, its length checked against Content-Length.
 * @example
 * const bytes = await readBody(c.req.raw, MAX_BLOB_BYTES, () => new ApiError(413, 'too_large', '…'));
 */
export async function readBody(request: Request, max: number, tooLarge: () => ApiError): Promise<Uint8Array> {
  const declared = declaredLength(request, max, tooLarge);
  const bytes = request.body === null ? new Uint8Array(0) : await readAtMost(request.body, max, tooLarge);
  checkLength(declared, bytes.length);
  return bytes;
}
