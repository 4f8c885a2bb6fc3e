/**
 * Property-based fuzzing of the blob routes (/v1/blobs/:sha256) inside workerd: RUNS_PER_ENDPOINT
 * generated requests each for GET, HEAD and PUT (fuzz-arbitraries.ts holds the harness) — odd digests,
 * Range / If-None-Match / If-Range headers, upload bodies that do not match their digest, with and
 * without a publish token. A read of the one stored blob must be a correct 200/206/304 or a 416; a PUT
 * of that blob's own bytes is valid (and changes nothing: blobs are content-addressed); the rest are
 * refused, and nothing stored changes.
 */

import { env } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { sha256Hex } from '../src/db/index.ts';
import {
  badAuthorization,
  decodedSegment,
  FUZZ_TIMEOUT_MS,
  type FuzzCase,
  fuzzCase,
  fuzzEndpoint,
  headerValue,
  hostileSegment,
  junkBody,
  refusal,
} from './fuzz-arbitraries.ts';
import { call, publishToken } from './helpers.ts';

const SIZE = 1000;
const BYTES = new Uint8Array(SIZE).map((_, i) => (i * 31 + 7) % 256);
let known = '';
let token = '';

beforeAll(async () => {
  known = await sha256Hex(BYTES);
  token = await publishToken();
  const res = await call(`/v1/blobs/${known}`, {
    method: 'PUT',
    body: BYTES,
    headers: { Authorization: `Bearer ${token}` },
  });
  if (res.status !== 201) throw new Error(`seeding the blob failed: ${res.status} ${await res.text()}`);
  if ((await env.BLOBS.head(`sha256/${known}`))?.size !== SIZE)
    throw new Error('the seeded blob is not stored');
});

const SHA256 = /^[0-9a-f]{64}$/;

/** A digest segment: the stored blob (as is or subtly wrong), another well-formed digest, or junk. */
const digestSegment = () =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(known) },
    { weight: 2, arbitrary: fc.stringMatching(/^[0-9a-f]{64}$/) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        known.toUpperCase(),
        `sha256:${known}`,
        `${known}0`,
        known.slice(1),
        `${known}%00`,
        `${known}.bin`,
        `%20${known}`,
      ),
    },
    { weight: 3, arbitrary: hostileSegment },
  );

const rangeHeader = fc.oneof(
  fc
    .tuple(
      fc.option(fc.integer({ min: -5, max: SIZE + 200 }), { nil: undefined }),
      fc.option(fc.integer({ min: -5, max: SIZE + 200 }), { nil: undefined }),
    )
    .map(([a, b]) => `bytes=${a ?? ''}-${b ?? ''}`),
  fc.constantFrom(
    'bytes=0-0,5-9',
    'bytes=',
    'bytes=-',
    'items=0-1',
    'bytes=1-2-3',
    'bytes=99999999999999999999-',
    'bytes=0-99999999999999999999',
    'bytes=-99999999999999999999',
    ' bytes=0-9 ',
    'bytes=0x10-',
  ),
  headerValue,
);

const readHeaders = (digest: string) =>
  fc.record(
    {
      range: rangeHeader,
      'if-none-match': fc.oneof(
        fc.constantFrom(
          `"${digest}"`,
          `W/"${digest}"`,
          `"x", "${digest}"`,
          `"${known}"`,
          '*',
          `${digest}`,
          '""',
        ),
        headerValue,
      ),
      'if-range': fc.oneof(
        fc.constantFrom(`"${digest}"`, `"other"`, 'Wed, 21 Oct 2015 07:28:00 GMT'),
        headerValue,
      ),
      origin: headerValue,
    },
    { requiredKeys: [] },
  );

function etagMatches(header: string | undefined, digest: string): boolean {
  return (header ?? '').split(',').some((t) => t.trim().replace(/^W\//, '') === `"${digest}"`);
}

/** What a read of a well-formed digest must answer; a malformed one must be refused. */
async function checkRead(method: string, digest: string, headers: Record<string, string>, res: Response) {
  if (etagMatches(headers['if-none-match'], digest)) {
    if (res.status !== 304) return `status ${res.status}, expected 304 for If-None-Match`;
    return (await res.text()) === '' ? null : '304 with a body';
  }
  if (digest !== known) return refusal(res, method);
  const body = new Uint8Array(await res.arrayBuffer());
  const head = method === 'HEAD';
  if (res.status === 200) {
    if (res.headers.get('content-length') !== String(SIZE))
      return `content-length ${res.headers.get('content-length')}`;
    return head ? (body.length === 0 ? null : 'HEAD with a body') : equal(body, BYTES) ? null : 'wrong bytes';
  }
  if (res.status === 206) {
    if (headers.range === undefined) return '206 without a Range header';
    const m = /^bytes (\d+)-(\d+)\/1000$/.exec(res.headers.get('content-range') ?? '');
    if (m === null) return `content-range ${res.headers.get('content-range')}`;
    const [from, to] = [Number(m[1]), Number(m[2])];
    if (from > to || to >= SIZE) return `content-range ${res.headers.get('content-range')}`;
    if (res.headers.get('content-length') !== String(to - from + 1)) return 'content-length ≠ range';
    return head || equal(body, BYTES.subarray(from, to + 1)) ? null : 'wrong range bytes';
  }
  if (res.status === 416) {
    if (res.headers.get('content-range') !== `bytes */${SIZE}`)
      return `416 content-range ${res.headers.get('content-range')}`;
    return refusal(new Response(body, res), method);
  }
  return `status ${res.status}`;
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

function readCases(method: 'GET' | 'HEAD'): fc.Arbitrary<FuzzCase> {
  return digestSegment().chain((segment) => {
    const digest = decodedSegment(segment);
    // Only a well-formed digest is quoted in a header (others may hold characters a header cannot).
    return readHeaders(SHA256.test(digest) ? digest : known).map((headers) => {
      const wellFormed = SHA256.test(digest) && segment.length > 0;
      return fuzzCase({
        method,
        path: `/v1/blobs/${segment}`,
        headers,
        label: `${digest === known ? 'stored blob' : wellFormed ? 'absent blob' : 'malformed digest'} ${JSON.stringify(headers).slice(0, 120)}`,
        ...(wellFormed ? { valid: (res: Response) => checkRead(method, digest, headers, res) } : {}),
      });
    });
  });
}

function putCases(): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      segment: digestSegment(),
      authorized: fc.boolean(),
      authorization: badAuthorization,
      body: fc.oneof(
        { weight: 2, arbitrary: fc.constant(BYTES) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: SIZE - 1 }).map((n) => BYTES.slice(0, n)) },
        {
          weight: 1,
          arbitrary: fc.nat({ max: SIZE - 1 }).map((i) => BYTES.map((v, j) => (j === i ? v ^ 1 : v))),
        },
        { weight: 2, arbitrary: junkBody },
      ),
      contentType: fc.option(
        fc.constantFrom('application/octet-stream', 'text/plain', 'multipart/form-data'),
        {
          nil: undefined,
        },
      ),
    })
    .map(({ segment, authorized, authorization, body, contentType }) => {
      const headers: Record<string, string> = {};
      if (authorized) headers.Authorization = `Bearer ${token}`;
      else if (authorization !== undefined) headers.Authorization = authorization;
      if (contentType !== undefined) headers['Content-Type'] = contentType;
      const digest = decodedSegment(segment);
      const isValid =
        authorized &&
        digest === known &&
        segment.length > 0 &&
        typeof body !== 'string' &&
        equal(body, BYTES);
      return fuzzCase({
        method: 'PUT',
        path: `/v1/blobs/${segment}`,
        headers,
        body,
        label: `${authorized ? 'token' : 'no token'}, ${digest === known ? 'stored digest' : 'other digest'}, ${body.length} bytes`,
        ...(isValid
          ? {
              valid: async (res: Response) => {
                if (res.status !== 201) return `status ${res.status}: ${await res.text()}`;
                const out = (await res.json()) as { sha256?: string; bytes?: number };
                return out.sha256 === known && out.bytes === SIZE ? null : JSON.stringify(out);
              },
            }
          : {}),
      });
    });
}

describe('fuzzing /v1/blobs with generated requests', () => {
  it(
    'GET /v1/blobs/:sha256',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'GET /v1/blobs/:sha256 digests, Range, If-None-Match, If-Range fuzzed',
        readCases('GET'),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'HEAD /v1/blobs/:sha256',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'HEAD /v1/blobs/:sha256 digests, Range, If-None-Match, If-Range fuzzed',
        readCases('HEAD'),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'PUT /v1/blobs/:sha256',
    async ({ task }) => {
      await fuzzEndpoint(task, 'PUT /v1/blobs/:sha256 digests, bodies and tokens fuzzed', putCases());
    },
    FUZZ_TIMEOUT_MS,
  );
});
