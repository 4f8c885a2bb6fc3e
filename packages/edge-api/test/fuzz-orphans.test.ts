/**
 * Property-based fuzzing of the orphan-blob admin routes (/v1/admin/orphans, publish scope) inside
 * workerd: RUNS_PER_ENDPOINT generated requests each for the listing and for collection
 * (fuzz-arbitraries.ts holds the harness) — odd and missing tokens, odd `min_age` values and query
 * strings, junk bodies, other methods. The storage holds one blob that a published version names
 * (never an orphan), so a valid listing is an empty list and a valid collection deletes nothing; every
 * other request is refused with a 4xx, and nothing stored changes.
 */

import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import {
  badAuthorization,
  FUZZ_TIMEOUT_MS,
  type FuzzCase,
  fuzzCase,
  fuzzEndpoint,
  headerValue,
  hostileString,
  json,
  junkBody,
} from './fuzz-arbitraries.ts';
import { fakeVersion, publish, publishToken } from './helpers.ts';

/** The route's ceiling on min_age (ten years), as src/routes/orphans.ts sets it. */
const MAX_MIN_AGE_S = 10 * 365 * 86400;

let token = '';

beforeAll(async () => {
  token = await publishToken();
  const { manifest, files } = await fakeVersion('orphanfuzz', '1.0.0');
  const res = await publish(token, 'orphanfuzz', manifest, files);
  if (res.status !== 201) throw new Error(`seeding a version failed: ${res.status} ${await res.text()}`);
});

/** A min_age value: valid ones, the edges of the range, and junk. */
const minAge = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: MAX_MIN_AGE_S }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      String(MAX_MIN_AGE_S + 1),
      '-1',
      '1.5',
      '1e3',
      ' 60',
      '60 ',
      '0x10',
      '',
      'NaN',
      'Infinity',
      '99999999999999999999999',
      '٣',
    ),
  },
  { weight: 2, arbitrary: hostileString },
);

const isValidMinAge = (v: string | undefined) =>
  v === undefined || (/^\d+$/.test(v) && Number(v) <= MAX_MIN_AGE_S);

const authorization = fc.oneof(
  { weight: 3, arbitrary: fc.constant('valid' as const) },
  { weight: 2, arbitrary: badAuthorization },
);

function emptyResult(key: 'orphans' | 'collected') {
  return async (res: Response) => {
    if (res.status !== 200) return `status ${res.status}: ${await res.text()}`;
    const body = await json(res);
    return Array.isArray(body[key]) && (body[key] as unknown[]).length === 0
      ? null
      : `expected no ${key}, got ${JSON.stringify(body).slice(0, 200)}`;
  };
}

function cases(route: 'list' | 'collect'): fc.Arbitrary<FuzzCase> {
  const method = route === 'list' ? 'GET' : 'POST';
  return fc
    .record({
      auth: authorization,
      age: minAge,
      extra: fc.dictionary(fc.constantFrom('x', 'min_age', 'cursor', ''), fc.string({ maxLength: 8 }), {
        maxKeys: 2,
      }),
      // Mostly the route's own method; sometimes one it does not serve.
      verb: fc.oneof(
        { weight: 6, arbitrary: fc.constant(method) },
        {
          weight: 1,
          arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', route === 'list' ? 'POST' : 'GET'),
        },
      ),
      body: fc.option(junkBody, { nil: undefined, freq: 3 }),
      header: fc.option(headerValue, { nil: undefined }),
    })
    .map(({ auth, age, extra, verb, body, header }) => {
      const query = new URLSearchParams();
      if (age !== undefined) query.append('min_age', age);
      for (const [k, v] of Object.entries(extra)) query.append(k, v);
      const ages = query.getAll('min_age');
      // The route reads the first min_age; a repeated one with a bad first value is refused.
      const effective = ages[0];
      const headers: Record<string, string> =
        auth === 'valid'
          ? { Authorization: `Bearer ${token}` }
          : auth === undefined
            ? {}
            : { Authorization: auth };
      if (header !== undefined) headers['x-fuzz'] = header;
      const path = `/v1/admin/orphans${route === 'collect' ? '/collect' : ''}?${query}`;
      const valid = auth === 'valid' && verb === method && isValidMinAge(effective);
      const withBody = body !== undefined && verb !== 'GET';
      return fuzzCase({
        method: verb,
        path,
        headers,
        ...(withBody ? { body } : {}),
        label: `${auth === 'valid' ? 'token' : 'no/bad token'}, min_age ${JSON.stringify(effective)}`,
        ...(valid ? { valid: emptyResult(route === 'list' ? 'orphans' : 'collected') } : {}),
      });
    });
}

describe('fuzzing /v1/admin/orphans', () => {
  it(
    'GET /v1/admin/orphans',
    async ({ task }) => {
      await fuzzEndpoint(task, 'GET /v1/admin/orphans (listing orphan blobs)', cases('list'));
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'POST /v1/admin/orphans/collect',
    async ({ task }) => {
      await fuzzEndpoint(task, 'POST /v1/admin/orphans/collect', cases('collect'));
    },
    FUZZ_TIMEOUT_MS,
  );
});
