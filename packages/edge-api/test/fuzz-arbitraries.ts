/**
 * @module
 * The property-based fuzzing harness of the edge API (fuzz-*.test.ts, inside workerd with real local D1
 * and R2): fast-check arbitraries for hostile request parts, and `fuzzEndpoint`, which sends
 * RUNS_PER_ENDPOINT generated requests through the Worker's app and holds each to the API's promise —
 * a refused request gets a 4xx (never a 5xx) with the one JSON error shape, a valid one its 2xx/3xx and
 * a correct body — while every D1 table and the R2 object list stay exactly as they were.
 *
 * A generated case says whether it is valid (then it carries a checker for the response); everything
 * else must be refused. Cases are built so that they are cheap: the great majority are refused by a
 * validator before D1, R2 or ORT is touched.
 */

import { createExecutionContext, env } from 'cloudflare:test';
import fc from 'fast-check';
import { expect } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { app as registry } from '../src/index.ts';
import { isInferencePath, snapshot } from './helpers.ts';

/**
 * Generated requests per endpoint (issue 10 asks for at least 10,000). Requests that reach D1 cost
 * ~6 ms a query on the shared test machine, so an endpoint whose every request reads D1 (the model
 * list) takes ~100 s; the fuzz files are split by route group to keep each file in a few minutes.
 */
export const RUNS_PER_ENDPOINT = 10_000;
/** A fuzz test's time limit: an endpoint whose every request reads D1 needs ~2 minutes here. */
export const FUZZ_TIMEOUT_MS = 600_000;
/** How often, in requests, the stored state is compared with the snapshot taken before the run. */
const SNAPSHOT_EVERY = 1_000;

/** One generated request and, when it is valid, how to check its response (null: fine, else why not). */
export interface FuzzCase {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array | FormData;
  readonly valid?: (res: Response) => Promise<string | null>;
  /** A short description for failure messages (bodies can be megabytes). */
  readonly label: string;
}

/** The Worker's bindings: the real local D1 and R2, the infer rate limit off (so every fuzzed request
 * reaches the validators; the limiter has its own tests). */
export const fuzzEnv = { ...env, INFER_RATE_LIMIT: '0' };

/** The inference Worker's app, imported only by the inference project (it brings in ONNX Runtime). */
const inference = () => import('../src/inference/index.ts').then((m) => m.app);

export async function send(c: FuzzCase): Promise<Response> {
  const init: RequestInit = { method: c.method, headers: c.headers };
  if (c.body !== undefined) init.body = c.body;
  const app = isInferencePath(new URL(c.path, 'https://edge.test').pathname) ? await inference() : registry;
  return app.request(c.path, init, fuzzEnv, createExecutionContext());
}

/** Why a response is not a proper refusal (4xx with `{ error: { code, message } }`), or null. */
export async function refusal(res: Response, method: string): Promise<string | null> {
  const text = await res.text();
  if (res.status < 400 || res.status > 499) return `status ${res.status}: ${text.slice(0, 200)}`;
  if (method === 'HEAD') return text === '' ? null : 'HEAD answered with a body';
  if (!/^application\/json/.test(res.headers.get('content-type') ?? ''))
    return `content-type ${res.headers.get('content-type')}`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `error body is not JSON: ${text.slice(0, 200)}`;
  }
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  if (
    body === null ||
    typeof body !== 'object' ||
    Object.keys(body).join() !== 'error' ||
    typeof error !== 'object' ||
    error === null ||
    Object.keys(error).sort().join() !== 'code,message' ||
    typeof error.code !== 'string' ||
    typeof error.message !== 'string' ||
    error.code === '' ||
    error.message === ''
  ) {
    return `error body has the wrong shape: ${text.slice(0, 200)}`;
  }
  return null;
}

/**
 * Runs the property over `runs` generated cases, reports the figure (area 'bad input') and fails the
 * test on any broken case (fast-check then shrinks it to a small counterexample) or state change.
 */
export async function fuzzEndpoint(
  task: Parameters<typeof reportFigure>[0],
  what: string,
  arb: fc.Arbitrary<FuzzCase>,
  runs = RUNS_PER_ENDPOINT,
): Promise<void> {
  const before = await snapshot();
  let requests = 0;
  let valid = 0;
  const failures: string[] = [];
  let thrown: unknown;
  try {
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        requests++;
        if (c.valid !== undefined) valid++;
        const res = await send(c);
        const problem = c.valid === undefined ? await refusal(res, c.method) : await c.valid(res);
        if (problem !== null) {
          failures.push(`${c.label}: ${problem}`);
          return false;
        }
        if (requests % SNAPSHOT_EVERY === 0 && (await snapshot()) !== before) {
          failures.push(`stored state changed within the ${SNAPSHOT_EVERY} requests before ${c.label}`);
          return false;
        }
        return true;
      }),
      { numRuns: runs },
    );
  } catch (err) {
    thrown = err;
  }
  if ((await snapshot()) !== before) failures.push('stored state changed during the run');
  reportFigure(task, {
    area: 'bad input',
    what,
    count: requests,
    unit: 'requests',
    // The first failing case stops the run; fast-check's shrinking then sends a few more.
    failures: new Set(failures).size,
    note: `${valid} of them valid; D1 tables and R2 objects compared every ${SNAPSHOT_EVERY} requests`,
  });
  expect(failures.slice(0, 5), 'broken cases').toEqual([]);
  if (thrown !== undefined) throw thrown;
  expect(requests).toBeGreaterThanOrEqual(runs);
}

/** Labels a case for fast-check's counterexample report, without printing megabytes of body. */
export function fuzzCase(c: FuzzCase): FuzzCase {
  return Object.assign(c, { [fc.toStringMethod]: () => `${c.method} ${c.path} ${c.label}` });
}

// ---- Hostile parts ----

/** Strings a path segment, header or JSON field should survive: odd, long, traversal, unicode. */
export const hostileString = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,70}$/),
  fc.constantFrom(
    '',
    '.',
    '..',
    '../..',
    '..%2f..',
    '%2e%2e',
    '%00',
    '\u0000',
    '%ff',
    '\ud800',
    'a'.repeat(65),
    'x'.repeat(5000),
    'CNN',
    'cnn lstm',
    'stable',
    'latest',
    '1.2.3',
    '-1.0.0',
    '01.0.0',
    '9999999999999999999.0.0',
    'NaN',
    'null',
    '__proto__',
    'constructor',
  ),
);

/** A path segment: a hostile string, encoded (or, for a few odd ones, raw) so the URL still parses. */
export const hostileSegment = fc.oneof(
  { weight: 4, arbitrary: hostileString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('%ff', '%2e%2e', '..', '.', '%00', '%2F', '%25', 'a%2fb', '%e2%82'),
  },
);

/**
 * A header value, odd or long. Printable ASCII only: workerd sends other Latin-1 as UTF-8 and warns
 * on every such request (bad UTF-8 is fuzzed in bodies instead).
 */
export const headerValue = fc.oneof(
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 40,
  }),
  fc.constantFrom('', '0', '-1', '1e9', '99999999999999999999', 'NaN', '%ff%fe', 'x'.repeat(8000)),
);

/** Headers that must not change what a read answers. */
export const harmlessHeaders = fc.dictionary(
  fc.constantFrom('accept', 'origin', 'user-agent', 'cache-control', 'x-fuzz', 'accept-language', 'cookie'),
  headerValue,
  { maxKeys: 3 },
);

/** A query string (ignored by every route). */
export const queryString = fc.oneof(
  fc.constant(''),
  fc.dictionary(hostileString, hostileString, { maxKeys: 3 }).map((q) => {
    const s = new URLSearchParams(q).toString();
    return s === '' ? '' : `?${s}`;
  }),
);

/** JSON nested `depth` deep as text (JSON.stringify would itself overflow the stack). */
export function deepJson(depth: number, open = '[', close = ']'): string {
  return `${open.repeat(depth)}${close.repeat(depth)}`;
}

/** A body that is not what any JSON endpoint wants: bad UTF-8, truncated or deep JSON, random bytes. */
export const junkBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.string({ maxLength: 64 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.jsonValue({ maxDepth: 2 }).map((v) => (JSON.stringify(v) ?? 'null').slice(0, -1)),
  fc.integer({ min: 1, max: 200_000 }).map((n) => deepJson(n)),
  fc.integer({ min: 1, max: 200_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  fc.constantFrom(
    new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]),
    new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]),
    new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
    new Uint8Array([0xed, 0xa0, 0x80]),
    '',
    'null',
    '[]',
    '"x"',
    '{"__proto__": {"version": "0.1.0"}}',
  ),
);

/** Authorization values that do not grant the publish scope. */
export const badAuthorization = fc.oneof(
  fc.constant(undefined),
  headerValue,
  fc
    .string({
      minLength: 16,
      maxLength: 64,
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    })
    .map((t) => `Bearer ${t}`),
  fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'bearer x', `Bearer ${'x'.repeat(300)}`),
);

export const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

/** A GET the server must answer with 200 and `check`'s body. */
export function okGet(path: string, check: (body: Record<string, unknown>) => string | null) {
  return fc.tuple(queryString, harmlessHeaders).map(([q, headers]) =>
    fuzzCase({
      method: 'GET',
      path: `${path}${q}`,
      headers,
      label: `headers ${Object.keys(headers).join(',')}`,
      valid: async (res) =>
        res.status === 200 ? check(await json(res)) : `status ${res.status}: ${await res.text()}`,
    }),
  );
}

/** Whether a path segment names `value` once the router has decoded it. */
export function segmentIs(segment: string, value: string): boolean {
  try {
    return decodeURIComponent(segment) === value;
  } catch {
    return false;
  }
}

/** The decoded path segment (the raw one when it does not decode). */
export function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
