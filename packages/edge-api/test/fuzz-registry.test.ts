/**
 * Property-based fuzzing of the model registry (/v1/models) inside workerd: RUNS_PER_ENDPOINT generated
 * requests per route (fuzz-arbitraries.ts holds the harness). Reads name the default models (valid:
 * checked against what was published) or odd names; publishes (multipart and JSON), alias moves and
 * deletes carry the publish token on three in four requests, so their bodies reach the validators, and
 * every one of them is wrong in at least one way — a broken manifest, a name mismatch, a missing,
 * altered or unlisted file, a published version, deep or non-UTF-8 JSON. None may change anything.
 */

import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import {
  badAuthorization,
  decodedSegment,
  FUZZ_TIMEOUT_MS,
  type FuzzCase,
  fuzzCase,
  fuzzEndpoint,
  hostileSegment,
  hostileString,
  json,
  junkBody,
  okGet,
} from './fuzz-arbitraries.ts';
import { fakeVersion, publishToken } from './helpers.ts';
import { publishDefaults, PUBLISHED_STABLE as STABLE } from './inference/fixtures.ts';

const DEFAULTS = Object.keys(STABLE);
const isDotSegment = (s: string) => /^(\.|%2e){1,2}$/i.test(s);

let token = '';
let base: Awaited<ReturnType<typeof fakeVersion>>;

beforeAll(async () => {
  await publishDefaults();
  token = await publishToken();
  // Never published: its files are in no request unaltered together with a valid manifest.
  base = await fakeVersion('fuzz', '1.0.0');
});

const nameSegment = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...DEFAULTS) },
  { weight: 3, arbitrary: hostileSegment.filter((s) => s !== '' && !isDotSegment(s)) },
);

const authorization = fc.oneof(
  { weight: 3, arbitrary: fc.constant('valid' as const) },
  { weight: 1, arbitrary: badAuthorization },
);

function authHeaders(auth: string | undefined): Record<string, string> {
  if (auth === 'valid') return { Authorization: `Bearer ${token}` };
  return auth === undefined ? {} : { Authorization: auth };
}

// ---- Reads ----

function manifestCheck(model: string) {
  return async (res: Response) => {
    if (res.status !== 200) return `status ${res.status}: ${await res.text()}`;
    const body = await json(res);
    return body.name === model && body.version === STABLE[model] ? null : `${body.name} ${body.version}`;
  };
}

function readCases(versioned: boolean): fc.Arbitrary<FuzzCase> {
  return fc
    .tuple(
      nameSegment,
      versioned
        ? fc.oneof(
            fc.constantFrom('stable', 'latest', '9.9.9', ...Object.values(STABLE)),
            hostileSegment.filter((s) => s !== '' && !isDotSegment(s)),
          )
        : fc.constant(null),
    )
    .map(([n, v]) => {
      const name = decodedSegment(n);
      const version = v === null ? null : decodedSegment(v);
      const valid =
        DEFAULTS.includes(name) &&
        (version === null || version === STABLE[name] || version === 'stable' || version === 'latest');
      return fuzzCase({
        method: 'GET',
        path: v === null ? `/v1/models/${n}` : `/v1/models/${n}/versions/${v}`,
        headers: {},
        label: valid ? 'a default model' : 'unknown or malformed',
        ...(valid ? { valid: manifestCheck(name) } : {}),
      });
    });
}

// ---- Publish ----

const badValue = fc.constantFrom<unknown>(null, -1, 'x y', {}, true, 'NaN', [null]);
const FIELDS = [
  'schemaVersion',
  'name',
  'version',
  'architecture',
  'files',
  'inputs',
  'outputs',
  'normalisation',
  'leads',
  'sites',
] as const;

type PublishFault =
  | { kind: 'field'; field: (typeof FIELDS)[number]; value: unknown }
  | { kind: 'name mismatch' }
  | { kind: 'published version'; model: string }
  | { kind: 'drop file' }
  | { kind: 'alter file'; at: number }
  | { kind: 'extra file'; name: string }
  | { kind: 'file size'; delta: number }
  | { kind: 'manifest part'; text: string | Uint8Array | null }
  | { kind: 'string part' };

const publishFault: fc.Arbitrary<PublishFault> = fc.oneof(
  fc.record({ kind: fc.constant('field' as const), field: fc.constantFrom(...FIELDS), value: badValue }),
  fc.constant({ kind: 'name mismatch' as const }),
  fc.record({ kind: fc.constant('published version' as const), model: fc.constantFrom(...DEFAULTS) }),
  fc.constant({ kind: 'drop file' as const }),
  fc.record({ kind: fc.constant('alter file' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('extra file' as const),
    // FormData itself refuses a file name ending in a backslash.
    name: hostileString.filter(
      (s) => s !== 'manifest' && s !== 'model.onnx' && s !== 'model-1.onnx' && s !== '' && !s.endsWith('\\'),
    ),
  }),
  fc.record({
    kind: fc.constant('file size' as const),
    delta: fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
  }),
  fc.record({
    kind: fc.constant('manifest part' as const),
    text: fc.oneof(junkBody, fc.constant(null)),
  }),
  fc.constant({ kind: 'string part' as const }),
);

function publishCase(spec: {
  auth: string | undefined;
  multipart: boolean;
  faults: PublishFault[];
  contentType: string | null;
  urlName: string;
}): FuzzCase {
  const manifest: Record<string, unknown> = structuredClone(base.manifest);
  const files = new Map([...base.files].map(([p, b]) => [p, b.slice()]));
  let url = 'fuzz';
  let manifestPart: string | Uint8Array | null | undefined;
  let stringPart = false;
  let resized = false;
  let altered = false;
  for (const f of spec.faults) {
    if (f.kind === 'field') manifest[f.field] = f.value;
    else if (f.kind === 'name mismatch') url = spec.urlName === 'fuzz' ? 'fuzz-other' : spec.urlName;
    else if (f.kind === 'published version') {
      manifest.name = f.model;
      manifest.version = STABLE[f.model];
      url = f.model;
    } else if (f.kind === 'drop file') files.delete('model-1.onnx');
    else if (f.kind === 'alter file' && !altered) {
      altered = true;
      const bytes = files.get('model.onnx');
      if (bytes !== undefined) bytes[f.at % bytes.length]! ^= 1;
    } else if (f.kind === 'extra file') files.set(f.name, new Uint8Array([1, 2, 3]));
    // Only the first size or byte fault counts: two could cancel out into a valid publish.
    else if (f.kind === 'file size' && !resized) {
      resized = true;
      const bytes = files.get('model.onnx')!;
      files.set(
        'model.onnx',
        f.delta < 0
          ? bytes.subarray(0, bytes.length + f.delta)
          : Uint8Array.from([...bytes, ...new Uint8Array(f.delta)]),
      );
    } else if (f.kind === 'manifest part') manifestPart = f.text;
    else stringPart = true;
  }
  const headers = authHeaders(spec.auth);
  let body: string | FormData;
  if (spec.multipart) {
    const form = new FormData();
    if (manifestPart !== null) {
      form.set('manifest', manifestPart === undefined ? JSON.stringify(manifest) : new Blob([manifestPart]));
    }
    for (const [p, b] of files) form.set(p, new Blob([b]), p);
    if (stringPart) form.set('notes', 'a string, not a file');
    body = form;
  } else {
    headers['Content-Type'] = spec.contentType ?? 'application/json';
    body =
      manifestPart === undefined || manifestPart === null
        ? JSON.stringify(manifest)
        : typeof manifestPart === 'string'
          ? manifestPart
          : new TextDecoder().decode(manifestPart);
  }
  return fuzzCase({
    method: 'POST',
    path: `/v1/models/${url}/versions`,
    headers,
    body,
    label: `${spec.auth === 'valid' ? 'token' : 'no token'}, ${spec.multipart ? 'multipart' : 'JSON'}, ${spec.faults.map((f) => f.kind).join('+')}`,
  });
}

function publishCases(): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      auth: authorization,
      multipart: fc.boolean(),
      // A multipart publish is valid until a fault is added; a JSON one names blobs never uploaded.
      faults: fc.array(publishFault, { minLength: 1, maxLength: 3 }),
      contentType: fc.option(
        fc.constantFrom(
          'application/json; charset=utf-8',
          'text/plain',
          'application/x-www-form-urlencoded',
          '',
        ),
        {
          nil: null,
        },
      ),
      urlName: nameSegment,
    })
    .map(publishCase);
}

// ---- Alias moves and deletes ----

function aliasCases(): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      auth: authorization,
      name: nameSegment,
      alias: fc.oneof(
        fc.constantFrom('stable', 'latest', 'beta'),
        hostileSegment.filter((s) => s !== '' && !isDotSegment(s)),
      ),
      body: fc.oneof(
        fc
          .oneof(hostileString, fc.constantFrom('9.9.9', ...Object.values(STABLE)), badValue)
          .map((v) => JSON.stringify({ version: v })),
        junkBody,
      ),
    })
    .filter(({ name, body }) => {
      // Pointing a default model's alias at its own published version is valid and moves the alias.
      const target = STABLE[decodedSegment(name)];
      return target === undefined || body !== JSON.stringify({ version: target });
    })
    .map(({ auth, name, alias, body }) =>
      fuzzCase({
        method: 'PUT',
        path: `/v1/models/${name}/aliases/${alias}`,
        headers: { ...authHeaders(auth), 'Content-Type': 'application/json' },
        body,
        label: `${auth === 'valid' ? 'token' : 'no token'}, ${typeof body === 'string' ? body.slice(0, 60) : `${body.length} bytes`}`,
      }),
    );
}

function deleteCases(): fc.Arbitrary<FuzzCase> {
  // Every published version is what an alias points to, so even a well-formed delete is refused (409).
  return fc
    .record({
      auth: authorization,
      name: nameSegment,
      version: fc.oneof(
        fc.constantFrom('9.9.9', ...Object.values(STABLE)),
        hostileSegment.filter((s) => s !== '' && !isDotSegment(s)),
      ),
    })
    .map(({ auth, name, version }) =>
      fuzzCase({
        method: 'DELETE',
        path: `/v1/models/${name}/versions/${version}`,
        headers: authHeaders(auth),
        label: `${auth === 'valid' ? 'token' : 'no token'}, ${decodedSegment(name)} ${decodedSegment(version)}`,
      }),
    );
}

describe('fuzzing /v1/models with generated requests', () => {
  it(
    'GET /v1/models',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'GET /v1/models query and headers fuzzed',
        okGet('/v1/models', (b) => {
          const names = ((b.models ?? []) as { name: string }[]).map((m) => m.name).sort();
          return names.join() === DEFAULTS.slice().sort().join() ? null : `models ${names.join()}`;
        }),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'GET /v1/models/:name',
    async ({ task }) => {
      await fuzzEndpoint(task, 'GET /v1/models/:name names fuzzed', readCases(false));
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'GET /v1/models/:name/versions/:version',
    async ({ task }) => {
      await fuzzEndpoint(task, 'GET /v1/models/:name/versions/:version names fuzzed', readCases(true));
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'POST /v1/models/:name/versions (publish, multipart and JSON)',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'POST /v1/models/:name/versions manifests, files and tokens fuzzed (3 in 4 with a valid token)',
        publishCases(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'PUT /v1/models/:name/aliases/:alias',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'PUT /v1/models/:name/aliases/:alias names, bodies and tokens fuzzed (3 in 4 with a valid token)',
        aliasCases(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'DELETE /v1/models/:name/versions/:version',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'DELETE /v1/models/:name/versions/:version names and tokens fuzzed (3 in 4 with a valid token)',
        deleteCases(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
