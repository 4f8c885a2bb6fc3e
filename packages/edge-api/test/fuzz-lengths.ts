/**
 * @module
 * Fuzzing of request lengths on every write and infer route (fuzz-lengths.test.ts for the registry,
 * inference/fuzz-lengths.test.ts for the inference Worker), inside workerd with real local D1 and R2:
 * each generated request pairs a body — the route's valid one, none, junk, or one past the route's
 * ceiling, streamed so that nothing that large is held — with a Content-Length that is absent, exact,
 * off by one either way, over the ceiling or not a number. The contract:
 *   - a Content-Length that is not a whole number: 400 `bad_content_length`;
 *   - one over the ceiling, or a body past it whatever the header says: 413 `too_large`;
 *   - one that differs from the body's length: 400 `bad_content_length`;
 *   - otherwise the body decides: the valid one gets the route's own answer, junk a 4xx;
 *   - a route that takes no body (a delete, an orphan collection) answers as if none came, never
 *     reading what was sent, however large;
 * never a 5xx, always the one JSON error shape, and D1 and R2 unchanged (the valid bodies are chosen
 * so that their answer changes nothing: a re-upload of a stored blob, a publish of an existing version).
 *
 * `npm test` runs a small seeded run (SMALL_RUNS per route); `npm run fuzz:lengths` the full one
 * (FUZZ_LENGTH_RUNS per route, passed in by vitest.config.ts).
 */

import { createExecutionContext, env } from 'cloudflare:test';
import fc from 'fast-check';
import { expect } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { app as registry } from '../src/index.ts';
import { fuzzEnv, refusal } from './fuzz-arbitraries.ts';
import { BASE, isInferencePath, snapshot } from './helpers.ts';

/** Requests per route in `npm test`; the seed makes the run the same every time. */
export const SMALL_RUNS = 40;
export const SEED = 18_2;

/** Requests per route: FUZZ_LENGTH_RUNS when `npm run fuzz:lengths` sets it, else SMALL_RUNS. */
export function runsPerRoute(): number {
  const n = Number(env.FUZZ_LENGTH_RUNS || SMALL_RUNS);
  return Number.isSafeInteger(n) && n > 0 ? n : SMALL_RUNS;
}

export interface LengthRoute {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The route's ceiling on the body, in bytes; null: it takes none and never reads one. */
  readonly max: number | null;
  /** The body that gets `validStatus` (null: none). */
  readonly valid: Uint8Array | null;
  readonly validStatus: number;
}

type Body =
  | { readonly kind: 'valid' }
  | { readonly kind: 'none' }
  | { readonly kind: 'junk'; readonly bytes: Uint8Array }
  | { readonly kind: 'over'; readonly extra: number };

type Header =
  | { readonly kind: 'absent' }
  | { readonly kind: 'exact' }
  | { readonly kind: 'off'; readonly by: -1 | 1 }
  | { readonly kind: 'over' }
  | { readonly kind: 'garbage'; readonly value: string };

const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'valid' } as const), weight: 4 },
  { arbitrary: fc.constant({ kind: 'none' } as const), weight: 2 },
  {
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 300 })
      .map((bytes) => ({ kind: 'junk', bytes }) as const),
    weight: 3,
  },
  {
    arbitrary: fc.integer({ min: 1, max: 1 << 20 }).map((extra) => ({ kind: 'over', extra }) as const),
    weight: 1,
  },
);

const headerArb: fc.Arbitrary<Header> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'absent' } as const), weight: 3 },
  { arbitrary: fc.constant({ kind: 'exact' } as const), weight: 3 },
  { arbitrary: fc.constantFrom(-1, 1).map((by) => ({ kind: 'off', by: by as -1 | 1 }) as const), weight: 2 },
  { arbitrary: fc.constant({ kind: 'over' } as const), weight: 1 },
  {
    arbitrary: fc
      .constantFrom('abc', '-1', '1.5', '1e3', '0x10', '+5', '', ' ', '12 34', '99999999999999999999', 'NaN')
      .map((value) => ({ kind: 'garbage', value }) as const),
    weight: 2,
  },
);

const CHUNK = new Uint8Array(64 * 1024);
/** What a route that takes no body is sent as an oversized one: past the largest ceiling of any route. */
const MAX_IGNORED = 96 * 1024 * 1024;

/** `length` zero bytes as a stream, made chunk by chunk as they are read. */
function zeros(length: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= length) return controller.close();
      const n = Math.min(CHUNK.length, length - sent);
      sent += n;
      controller.enqueue(CHUNK.slice(0, n));
    },
  });
}

/** What the contract says the route answers: a status and, for the length refusals, the code. */
function expected(route: LengthRoute, body: Body, value: string | null, length: number) {
  // A route that takes no body answers as if none came, whatever is sent and declared.
  if (route.max === null) return { status: route.validStatus };
  if (value !== null && !/^\d{1,15}$/.test(value.trim())) return { status: 400, code: 'bad_content_length' };
  const declaredLength = value === null ? null : Number(value.trim());
  const max = route.max;
  if ((declaredLength ?? 0) > max || length > max) return { status: 413, code: 'too_large' };
  if (declaredLength !== null && declaredLength !== length)
    return { status: 400, code: 'bad_content_length' };
  if (body.kind === 'valid' || (body.kind === 'none' && route.valid === null))
    return { status: route.validStatus };
  return { status: -1 }; // junk, or no body where one is needed: any proper 4xx refusal
}

function declared(header: Header, route: LengthRoute, length: number): string | null {
  switch (header.kind) {
    case 'absent':
      return null;
    case 'exact':
      return String(length);
    case 'off':
      return String(length + header.by);
    case 'over':
      return String((route.max ?? MAX_IGNORED) + 1);
    case 'garbage':
      return header.value;
  }
}

const inference = () => import('../src/inference/index.ts').then((m) => m.app);

/** Runs the length fuzz on each route, reports one figure per Worker and fails on any broken case. */
export async function fuzzLengths(
  task: Parameters<typeof reportFigure>[0],
  worker: string,
  routes: readonly LengthRoute[],
  runs = runsPerRoute(),
): Promise<void> {
  const before = await snapshot();
  let requests = 0;
  let oversized = 0;
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  for (const [i, route] of routes.entries()) {
    const app = isInferencePath(new URL(route.path, BASE).pathname) ? await inference() : registry;
    await fc
      .assert(
        fc.asyncProperty(bodyArb, headerArb, async (body, header) => {
          requests++;
          const bytes = body.kind === 'valid' ? route.valid : body.kind === 'junk' ? body.bytes : null;
          const length =
            body.kind === 'over' ? (route.max ?? MAX_IGNORED) + body.extra : (bytes?.length ?? 0);
          if (body.kind === 'over') oversized++;
          const headers = new Headers(route.headers);
          const value = declared(header, route, length);
          if (value !== null) headers.set('Content-Length', value);
          const init: RequestInit = { method: route.method, headers };
          if (body.kind === 'over') init.body = zeros(length);
          else if (bytes !== null) init.body = bytes;
          const request = new Request(`${BASE}${route.path}`, init);
          // The header reaches the Worker as sent, less the surrounding whitespace Headers strips.
          const sent = request.headers.get('content-length');
          if (sent !== (value?.trim() ?? null)) {
            failures.push(`Content-Length '${value}' reached the Worker as '${sent}'`);
            return false;
          }
          const res = await app.request(request, undefined, fuzzEnv, createExecutionContext());
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const want = expected(route, body, value, length);
          const label = `${route.label}: body ${body.kind} (${length} B), Content-Length ${value ?? 'absent'}`;
          let problem: string | null = null;
          if (want.status === -1 || want.status >= 400) {
            const text = await res.clone().text();
            problem = await refusal(res, route.method);
            if (problem === null && want.status !== -1 && res.status !== want.status)
              problem = `status ${res.status}, expected ${want.status}`;
            if (problem === null && want.code !== undefined && !text.includes(`"code":"${want.code}"`))
              problem = `not ${want.code}: ${text.slice(0, 160)}`;
          } else if (res.status !== want.status) {
            problem = `status ${res.status}, expected ${want.status}: ${(await res.text()).slice(0, 160)}`;
          } else {
            await res.arrayBuffer();
          }
          if (problem !== null) failures.push(`${label}: ${problem}`);
          return problem === null;
        }),
        { numRuns: runs, seed: SEED + i },
      )
      .catch((err: Error) => failures.push(err.message.split('\n').slice(0, 8).join(' | ')));
  }
  if ((await snapshot()) !== before) failures.push('stored state changed during the run');
  reportFigure(task, {
    area: 'bad input',
    what: `oversized bodies and wrong or missing Content-Length on every ${worker} write/infer route`,
    count: requests,
    unit: 'requests',
    failures: new Set(failures).size,
    note: `${routes.length} routes × ${runs} (seeded); ${oversized} bodies past the route's ceiling, streamed; statuses ${[
      ...statuses,
    ]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}×${n}`)
      .join(', ')}; D1 and R2 unchanged`,
  });
  expect(failures.slice(0, 5)).toEqual([]);
  expect(requests).toBeGreaterThanOrEqual(routes.length * runs);
}
