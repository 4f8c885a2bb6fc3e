/**
 * Property-based fuzzing of the OIP v2 API (/v2) inside workerd: RUNS_PER_ENDPOINT generated requests
 * per route (fuzz-arbitraries.ts holds the harness). Infer requests start from a well-formed request
 * (JSON or binary tensor data, B ≤ 2, 10 or 500 steps, denormals and extreme finite values included)
 * and take at least one mutation that makes them wrong — shape, dtype, NaN/±Inf, truncated or padded
 * tensor bytes, a wrong Inference-Header-Content-Length, bad UTF-8, deep JSON, an oversized body —
 * except for about one in a thousand, which stay valid and run the CNN-LSTM.
 */

import { N_LEADS, N_SITES, N_STEPS } from '@ecg-tmp/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../src/inference/oip.ts';
import {
  FUZZ_TIMEOUT_MS,
  type FuzzCase,
  fuzzCase,
  fuzzEndpoint,
  harmlessHeaders,
  headerValue,
  hostileSegment,
  json,
  junkBody,
  okGet,
  queryString,
  send,
} from '../fuzz-arbitraries.ts';
import { publishDefaults, PUBLISHED_STABLE as STABLE } from './fixtures.ts';

const DEFAULTS = Object.keys(STABLE);

beforeAll(async () => {
  await publishDefaults();
});

const isDotSegment = (s: string) => /^(\.|%2e){1,2}$/i.test(s);

/** A model path: a default model (named by version, alias or not at all) or a hostile name. */
function modelPath(versioned: boolean) {
  const known = fc.constantFrom(...DEFAULTS).chain((model) =>
    (versioned ? fc.constantFrom(STABLE[model]!, 'stable', 'latest') : fc.constant(null)).map((v) => ({
      model,
      path: v === null ? `/v2/models/${model}` : `/v2/models/${model}/versions/${v}`,
      known: true,
    })),
  );
  const unknown = fc
    .tuple(
      fc.oneof(hostileSegment, fc.constantFrom(...DEFAULTS)),
      versioned ? fc.oneof(hostileSegment, fc.constantFrom('9.9.9', 'beta', '0.1.0')) : fc.constant(null),
    )
    .filter(
      ([n, v]) =>
        n !== '' &&
        v !== '' &&
        // Dot segments are resolved by the URL parser, into another (valid) route.
        !isDotSegment(n) &&
        !(v !== null && isDotSegment(v)) &&
        !(DEFAULTS.includes(n) && (v === null || v === STABLE[n] || v === 'stable' || v === 'latest')),
    )
    .map(([n, v]) => ({
      model: n,
      path: v === null ? `/v2/models/${n}` : `/v2/models/${n}/versions/${v}`,
      known: false,
    }));
  return fc.oneof({ weight: 3, arbitrary: known }, { weight: 1, arbitrary: unknown });
}

/** GET of model metadata or readiness: valid for a default model, refused otherwise. */
function modelGet(versioned: boolean, suffix: '' | '/ready') {
  return fc.tuple(modelPath(versioned), queryString, harmlessHeaders).map(([m, q, headers]) =>
    fuzzCase({
      method: 'GET',
      path: `${m.path}${suffix}${q}`,
      headers,
      label: m.known ? 'known model' : 'unknown or malformed model',
      ...(m.known
        ? {
            valid: async (res: Response) => {
              if (res.status !== 200) return `status ${res.status}: ${await res.text()}`;
              const body = await json(res);
              if (body.name !== m.model) return `name ${String(body.name)}`;
              if (suffix === '/ready') return body.ready === true ? null : 'not ready';
              return Array.isArray(body.versions) && body.versions.includes(STABLE[m.model])
                ? null
                : `versions ${JSON.stringify(body.versions)}`;
            },
          }
        : {}),
    }),
  );
}

// ---- Infer ----

/** What makes a well-formed infer request wrong; every one of them must be refused. */
type Mutation =
  | { kind: 'shape'; shape: unknown }
  | { kind: 'datatype'; datatype: unknown }
  | { kind: 'inputs'; inputs: 'rename' | 'extra' | 'none' | 'not a list'; name: unknown }
  | { kind: 'value'; at: number; value: number; raw: unknown }
  | { kind: 'binary size'; size: unknown }
  | { kind: 'tensor bytes'; delta: number }
  | { kind: 'header length'; value: string | null }
  | { kind: 'parameters'; parameters: unknown }
  | { kind: 'outputs'; outputs: unknown }
  | { kind: 'id'; id: unknown }
  | { kind: 'body'; body: string | Uint8Array }
  | { kind: 'content-type'; type: string }
  | { kind: 'encoding'; encoding: string }
  | { kind: 'oversized' }
  | { kind: 'deep'; field: 'data' | 'datatype' | 'shape' | 'id' | 'parameters' | 'outputs'; depth: number };

const OVERSIZED = new Uint8Array(MAX_BODY_BYTES + 1).fill(0x20);
const junkValue = fc.constantFrom<unknown>(null, 'x', '1', true, -1, 1.5, [], {}, [[[]]], { a: 1 });

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .oneof(
        fc.constantFrom<unknown>(
          [],
          [1],
          [1, 12],
          [1, 12, 10, 1],
          [0, 12, 10],
          [-1, 12, 10],
          [1, 11, 10],
          [1, 12, 499],
          [1, 12, 0],
          [1, 12, 11],
          [9, 12, 10],
          [2 ** 31, 12, 10],
          [2 ** 53, 12, 10],
          [1e300, 12, 10],
          [1.5, 12, 10],
          ['1', 12, 10],
          [null, 12, 10],
          null,
          'x',
          {},
          Array.from({ length: 5000 }, () => 1),
        ),
        fc.array(fc.integer({ min: -3, max: 600 }), { maxLength: 5 }),
      )
      .map((shape) => ({ kind: 'shape' as const, shape })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.constantFrom<unknown>('FP16', 'FP64', 'INT32', 'BYTES', 'fp32', 'FP32 ', ''), junkValue)
      .map((datatype) => ({ kind: 'datatype' as const, datatype })),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('inputs' as const),
      inputs: fc.constantFrom('rename' as const, 'extra' as const, 'none' as const, 'not a list' as const),
      name: fc.oneof(
        fc.constantFrom<unknown>('ECG', 'tmp', '', 'ecg ', null, 1),
        fc.string({ maxLength: 8 }),
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('value' as const),
      at: fc.nat(),
      value: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e39, -1e39),
      raw: fc.constantFrom<unknown>(null, '1', true, [], {}, 1e39, -1e39),
    }),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom<unknown>(-1, 1.5, '480', null, 2 ** 53, 1e300, {}),
        fc.integer({ min: -8, max: 8 }).filter((d) => d !== 0),
      )
      .map((size) => ({ kind: 'binary size' as const, size })),
  },
  {
    weight: 2,
    arbitrary: fc
      .integer({ min: -64, max: 64 })
      .filter((d) => d !== 0)
      .map((delta) => ({ kind: 'tensor bytes' as const, delta })),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        fc.constantFrom<string | null>(null, '', ' ', '-5', '1e3', '0x10', '99999999999', 'NaN', '+1', '1.0'),
        fc
          .integer({ min: -40, max: 40 })
          .filter((d) => d !== 0)
          .map(String),
        headerValue,
      )
      .map((value) => ({ kind: 'header length' as const, value })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom<unknown>(null, [], 'x', 1),
        junkValue.map((v) => ({ binary_data_output: v })),
        junkValue.map((v) => ({ limited_time: v })),
      )
      .filter(
        (p) =>
          !(
            p !== null &&
            typeof p === 'object' &&
            !Array.isArray(p) &&
            // null is read as "not given", as an absent key is.
            Object.values(p).every((v) => typeof v === 'boolean' || v === null)
          ),
      )
      .map((parameters) => ({ kind: 'parameters' as const, parameters })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom<unknown>(
        [],
        'tmp',
        null,
        {},
        [{}],
        [{ name: 'x' }],
        [{ name: 'tmp' }, { name: 'tmp' }],
        [{ name: 'tmp' }, { name: 'other' }],
        [{ name: 'tmp', parameters: { classification: 3 } }],
        [{ name: 'tmp', parameters: { binary_data: 'yes' } }],
        [{ name: 'tmp', parameters: [] }],
        [{ name: 1 }],
      )
      .map((outputs) => ({ kind: 'outputs' as const, outputs })),
  },
  {
    weight: 1,
    arbitrary: junkValue.filter((v) => typeof v !== 'string').map((id) => ({ kind: 'id' as const, id })),
  },
  { weight: 3, arbitrary: junkBody.map((body) => ({ kind: 'body' as const, body })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('text/html', 'multipart/form-data; boundary=x', 'application/xml', 'image/png', 'json')
      .map((type) => ({ kind: 'content-type' as const, type })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('gzip', 'deflate', 'br', 'compress', 'x-gzip', 'gzip, gzip', 'zstd')
      .map((encoding) => ({ kind: 'encoding' as const, encoding })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'oversized' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('deep' as const),
      field: fc.constantFrom(
        'data' as const,
        'datatype' as const,
        'shape' as const,
        'id' as const,
        'parameters' as const,
        'outputs' as const,
      ),
      depth: fc.oneof(fc.integer({ min: 2, max: 100 }), fc.integer({ min: 1_000, max: 200_000 })),
    }),
  },
);

/** Stands in for a value nested too deep for JSON.stringify, spliced into the body as text. */
const DEEP = '"__deep__"';

interface InferSpec {
  readonly path: { model: string; path: string; known: boolean };
  readonly batch: number;
  readonly steps: number;
  readonly binary: boolean;
  readonly limited: boolean | undefined;
  readonly binaryOutput: boolean | undefined;
  readonly id: string | undefined;
  readonly seed: number;
  /** Finite values that must pass: denormals, ±0, the float32 extremes. */
  readonly extremes: readonly { at: number; value: number }[];
  readonly mutations: readonly Mutation[];
}

/** Little-endian float32 bytes (workerd is little-endian, as the protocol wants). */
const bytesOf = (a: Float32Array) =>
  new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

function buildInfer(s: InferSpec): FuzzCase {
  const count = s.batch * N_LEADS * s.steps;
  const values = new Float32Array(count);
  let x = s.seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    values[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 4;
  }
  for (const e of s.extremes) values[e.at % count] = e.value;
  const input: Record<string, unknown> = {
    name: 'ecg',
    shape: [s.batch, N_LEADS, s.steps],
    datatype: 'FP32',
  };
  const request: Record<string, unknown> = { inputs: [input] };
  if (s.id !== undefined) request.id = s.id;
  const parameters: Record<string, unknown> = {};
  if (s.limited !== undefined) parameters.limited_time = s.limited;
  if (s.binaryOutput !== undefined) parameters.binary_data_output = s.binaryOutput;
  if (Object.keys(parameters).length > 0) request.parameters = parameters;
  // Mutations of the binary framing make the request binary.
  const binary =
    s.binary ||
    s.mutations.some(
      (m) =>
        m.kind === 'binary size' ||
        m.kind === 'tensor bytes' ||
        (m.kind === 'header length' && m.value === null),
    );
  const headers: Record<string, string> = {
    'Content-Type': binary ? 'application/octet-stream' : 'application/json',
  };
  let jsonData: unknown[] = binary ? [] : Array.from(values);
  let deep = '';
  let binarySize: unknown = values.byteLength;
  let tensorDelta = 0;
  let headerLength: string | null | undefined;
  let body: string | Uint8Array | undefined;
  for (const m of s.mutations) {
    switch (m.kind) {
      case 'shape':
        input.shape = m.shape;
        break;
      case 'datatype':
        input.datatype = m.datatype;
        break;
      case 'inputs':
        if (m.inputs === 'rename') input.name = m.name === 'ecg' ? 'ECG' : m.name;
        else if (m.inputs === 'extra') request.inputs = [input, { ...input, name: m.name }];
        else if (m.inputs === 'none') request.inputs = [];
        else request.inputs = m.name === undefined ? null : m.name;
        break;
      case 'value':
        if (binary) values[m.at % count] = m.value;
        else jsonData[m.at % count] = m.raw;
        break;
      case 'binary size':
        binarySize =
          typeof m.size === 'number' && Math.abs(m.size) <= 8 ? values.byteLength + m.size : m.size;
        break;
      case 'tensor bytes':
        tensorDelta = m.delta;
        break;
      case 'header length':
        headerLength = m.value;
        break;
      case 'parameters':
        request.parameters = m.parameters;
        break;
      case 'outputs':
        request.outputs = m.outputs;
        break;
      case 'id':
        request.id = m.id;
        break;
      case 'body':
        body = m.body;
        break;
      case 'content-type':
        headers['Content-Type'] = m.type;
        break;
      case 'encoding':
        headers['Content-Encoding'] = m.encoding;
        break;
      case 'oversized':
        body = OVERSIZED;
        break;
      case 'deep':
        // The shape as deep as the data, so the nesting is within the rank the reader accepts.
        deep = `${'['.repeat(m.depth)}1${']'.repeat(m.depth)}`;
        if (m.field === 'data') input.shape = Array.from({ length: m.depth }, () => 1);
        if (m.field === 'data' || m.field === 'datatype' || m.field === 'shape') input[m.field] = '__deep__';
        else request[m.field] = '__deep__';
        if (m.field === 'data') jsonData = ['__deep__'];
        break;
    }
  }
  const mutated = s.mutations.length > 0;
  const text = (v: unknown) => {
    const t = JSON.stringify(v);
    return deep === '' ? t : t.replace(DEEP, deep);
  };
  if (body === undefined && binary) {
    input.parameters = { binary_data_size: binarySize };
    const header = new TextEncoder().encode(text(request));
    let tensor = bytesOf(values);
    if (tensorDelta < 0) tensor = tensor.subarray(0, Math.max(0, tensor.length + tensorDelta));
    if (tensorDelta > 0) tensor = Uint8Array.from([...tensor, ...new Uint8Array(tensorDelta).fill(7)]);
    const all = new Uint8Array(header.length + tensor.length);
    all.set(header);
    all.set(tensor, header.length);
    body = all;
    // A "wrong by n" header length is relative to the true one.
    const n = headerLength === undefined || headerLength === null ? Number.NaN : Number(headerLength);
    if (headerLength === undefined) headers['Inference-Header-Content-Length'] = String(header.length);
    else if (headerLength !== null && /^-?\d{1,2}$/.test(headerLength) && n !== 0)
      headers['Inference-Header-Content-Length'] = String(header.length + n);
    else if (headerLength !== null) headers['Inference-Header-Content-Length'] = headerLength;
  } else if (body === undefined) {
    input.data = input.data === '__deep__' ? '__deep__' : jsonData;
    body = text(request);
    if (headerLength !== undefined && headerLength !== null && headerLength !== String(body.length))
      headers['Inference-Header-Content-Length'] = headerLength;
  } else if (headerLength !== undefined && headerLength !== null) {
    headers['Inference-Header-Content-Length'] = headerLength;
  }
  const label = `${binary ? 'binary' : 'JSON'} [${s.batch}, 12, ${s.steps}] ${
    mutated ? s.mutations.map((m) => m.kind).join('+') : 'valid'
  } → ${s.path.path}`;
  const batch = s.batch;
  return fuzzCase({
    method: 'POST',
    path: `${s.path.path}/infer`,
    headers,
    body,
    label,
    ...(mutated || !s.path.known
      ? {}
      : {
          valid: async (res: Response) => {
            if (res.status !== 200) return `status ${res.status}: ${(await res.text()).slice(0, 300)}`;
            const bytes = new Uint8Array(await res.arrayBuffer());
            const length = res.headers.get('inference-header-content-length');
            const headerEnd = length === null ? bytes.length : Number(length);
            const header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, headerEnd))) as {
              model_name: string;
              id?: string;
              outputs: { name: string; shape: number[]; data?: number[] }[];
            };
            const out = header.outputs[0];
            if (header.model_name !== s.path.model || header.id !== s.id) return 'wrong model or id';
            if (out?.name !== 'tmp' || out.shape.join() !== `${batch},${N_SITES},${N_STEPS}`)
              return `output ${JSON.stringify(out?.shape)}`;
            const data =
              length === null
                ? Float32Array.from(out.data ?? [])
                : new Float32Array(bytes.slice(headerEnd).buffer);
            if (data.length !== batch * N_SITES * N_STEPS) return `${data.length} output values`;
            return data.every(Number.isFinite) ? null : 'non-finite output';
          },
        }),
  });
}

/** Infer requests: mostly mutated (refused before the registry or ORT is reached), a few valid. */
function inferCases(versioned: boolean) {
  const spec = (mutations: fc.Arbitrary<Mutation[]>, path: fc.Arbitrary<InferSpec['path']>) =>
    fc.record({
      path,
      batch: fc.constantFrom(1, 2),
      steps: fc.oneof(
        { weight: 3, arbitrary: fc.constant(10) },
        { weight: 1, arbitrary: fc.constant(N_STEPS) },
      ),
      binary: fc.boolean(),
      limited: fc.constantFrom(undefined, true, false),
      binaryOutput: fc.constantFrom(undefined, true, false),
      id: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
      seed: fc.integer(),
      extremes: fc.array(
        fc.record({
          at: fc.nat(),
          value: fc.constantFrom(
            1e-45,
            -1e-45,
            1e-40,
            -0,
            0,
            3.4028234663852886e38,
            -3.4028234663852886e38,
            1.17549435e-38,
          ),
        }),
        { maxLength: 4 },
      ),
      mutations,
    });
  const path = modelPath(versioned);
  // Only the CNN-LSTM runs for the valid few (~10 ms each); the Transformer decodes for seconds.
  const cnnLstm = modelPath(versioned).filter((p) => p.known && p.model === 'cnn-lstm');
  return fc
    .oneof(
      { weight: 999, arbitrary: spec(fc.array(mutation, { minLength: 1, maxLength: 3 }), path) },
      { weight: 1, arbitrary: spec(fc.constant([]), cnnLstm) },
    )
    .map(buildInfer);
}

describe('fuzzing /v2 (OIP v2) with generated requests', () => {
  it('sanity: a valid generated request runs and a mutated one is refused', async () => {
    const base: InferSpec = {
      path: { model: 'cnn-lstm', path: '/v2/models/cnn-lstm', known: true },
      batch: 1,
      steps: 10,
      binary: true,
      limited: undefined,
      binaryOutput: true,
      id: 'x',
      seed: 1,
      extremes: [{ at: 3, value: 1e-40 }],
      mutations: [],
    };
    const ok = buildInfer(base);
    expect(await ok.valid!(await send(ok))).toBeNull();
    const bad = buildInfer({ ...base, mutations: [{ kind: 'tensor bytes', delta: -1 }] });
    expect((await send(bad)).status).toBe(400);
  });

  it(
    'GET /v2 (server metadata)',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'GET /v2 query and headers fuzzed',
        okGet('/v2', (b) => (Array.isArray(b.extensions) ? null : JSON.stringify(b))),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'GET /v2/health/live',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'GET /v2/health/live query and headers fuzzed',
        okGet('/v2/health/live', (b) => (b.live === true ? null : JSON.stringify(b))),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'GET /v2/health/ready',
    async ({ task }) => {
      await fuzzEndpoint(
        task,
        'GET /v2/health/ready query and headers fuzzed',
        okGet('/v2/health/ready', (b) => (b.ready === true ? null : JSON.stringify(b))),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  for (const versioned of [false, true]) {
    const base = versioned ? '/v2/models/:name/versions/:version' : '/v2/models/:name';
    it(
      `GET ${base} (model metadata)`,
      async ({ task }) => {
        await fuzzEndpoint(task, `GET ${base} names and headers fuzzed`, modelGet(versioned, ''));
      },
      FUZZ_TIMEOUT_MS,
    );

    it(
      `GET ${base}/ready`,
      async ({ task }) => {
        await fuzzEndpoint(task, `GET ${base}/ready names and headers fuzzed`, modelGet(versioned, '/ready'));
      },
      FUZZ_TIMEOUT_MS,
    );

    it(
      `POST ${base}/infer`,
      async ({ task }) => {
        await fuzzEndpoint(
          task,
          `POST ${base}/infer bodies and headers fuzzed (JSON and binary)`,
          inferCases(versioned),
        );
      },
      FUZZ_TIMEOUT_MS,
    );
  }
});

describe('regressions found by fuzzing /v2', () => {
  const deepRequest = (field: 'data' | 'datatype' | 'shape', depth: number) => {
    const deep = `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    const input = {
      name: 'ecg',
      shape: field === 'data' ? Array.from({ length: depth }, () => 1) : [1, 12, 10],
      datatype: 'FP32',
      data: [0],
      [field]: '__deep__',
    };
    return JSON.stringify({ inputs: [input] }).replace('"__deep__"', deep);
  };

  // Data nested as deep as a 100,000-dimension shape overflowed the reader's recursion: a 500. The
  // datatype and shape cases guard the error messages, which quote the offending value.
  for (const [field, depth] of [
    ['data', 100_000],
    ['datatype', 100_000],
    ['shape', 100_000],
  ] as const) {
    it(`refuses ${field} nested ${depth.toLocaleString('en-US')} deep with a 400, not a 500`, async () => {
      const res = await send(
        fuzzCase({
          method: 'POST',
          path: '/v2/models/cnn/infer',
          headers: { 'Content-Type': 'application/json' },
          body: deepRequest(field, depth),
          label: field,
        }),
      );
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe(field === 'datatype' ? 'bad_datatype' : 'bad_shape');
      if (field === 'data') expect(error.message).toMatch(/at most 8 are read/);
    });
  }
});
