/**
 * The OIP v2 inference API inside workerd, against the shipped default models published through the
 * registry. Outputs are compared with the trainer's ORT reference computed in Node
 * (fixtures/make-references.ts) to within 1e-4 on the normalised Vm scale, i.e. 1e-4 × VM_SPAN_MV
 * (≈ 0.0136 mV) on the API's mV output.
 */

import { env } from 'cloudflare:test';
import { N_LEADS, N_SITES, N_STEPS, VM_SPAN_MV } from '@ecg-tmp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import aliases from '../../../../models/aliases.json' with { type: 'json' };
import cnnLstmManifest from '../../../../models/cnn-lstm/0.3.3/manifest.json' with { type: 'json' };
import { app } from '../../src/inference/index.ts';
import { MAX_BODY_BYTES } from '../../src/inference/oip.ts';
import { createModelCache } from '../../src/inference/sessions.ts';
import { blobKey } from '../../src/routes/blobs.ts';
import {
  EXPERIMENTS,
  KEPT_STEPS,
  MODELS,
  type ReferenceExperiment,
  type ReferenceModel,
  SAMPLES,
  subsample,
} from '../fixtures/references.ts';
import { call, fakeVersion, publish, publishToken } from '../helpers.ts';
import {
  binaryBody,
  bytesOfFloats,
  errorOf,
  inferBinary,
  inferJson,
  JSON_HEADERS,
  publishDefaults,
  readInferResult,
  referenceEcg,
  referenceTmp,
} from './fixtures.ts';

/** Each default model's stable version (models/aliases.json), which publishDefaults() publishes. */
const STABLE = Object.fromEntries(Object.entries(aliases).map(([name, a]) => [name, a.stable])) as Record<
  string,
  string
>;

const TOLERANCE_MV = 1e-4 * VM_SPAN_MV;
const SAMPLE_VALUES = N_LEADS * N_STEPS;

let ecg: Float32Array;

beforeAll(async () => {
  await publishDefaults();
  ecg = await referenceEcg();
  expect(ecg.length).toBe(SAMPLES * SAMPLE_VALUES);
});

/** Reference samples `samples` as [B, 12, T]: all 500 steps or the first `steps`. */
function ecgOf(samples: readonly number[], steps = N_STEPS): Float32Array {
  const out = new Float32Array(samples.length * N_LEADS * steps);
  samples.forEach((s, b) => {
    for (let lead = 0; lead < N_LEADS; lead++) {
      const from = s * SAMPLE_VALUES + lead * N_STEPS;
      out.set(ecg.subarray(from, from + steps), (b * N_LEADS + lead) * steps);
    }
  });
  return out;
}

const ecgTensor = (data: Float32Array, batch: number, steps = N_STEPS) => ({
  name: 'ecg',
  shape: [batch, N_LEADS, steps],
  datatype: 'FP32',
  data: Array.from(data),
});

/** Largest |actual − reference| over the reference's steps, for samples `samples` of the fixtures. */
async function deviation(
  tmp: Float32Array,
  samples: readonly number[],
  model: ReferenceModel,
  experiment: ReferenceExperiment,
): Promise<number> {
  const reference = await referenceTmp(model, experiment);
  const kept = subsample(tmp, samples.length);
  const block = N_SITES * KEPT_STEPS;
  let worst = 0;
  samples.forEach((s, b) => {
    for (let i = 0; i < block; i++) {
      worst = Math.max(worst, Math.abs(kept[b * block + i]! - reference[s * block + i]!));
    }
  });
  return worst;
}

const VARIANTS = [
  { label: 'full (T=500)', experiment: 'full', steps: N_STEPS, limited: false },
  { label: 'limited time (T=10)', experiment: 'limited', steps: 10, limited: false },
  { label: 'limited time (T=500, limited_time)', experiment: 'limited', steps: N_STEPS, limited: true },
] as const;

describe('inference matches the trainer/ORT reference', () => {
  it('has references for every default model and experiment', () => {
    expect([...MODELS]).toEqual(['cnn', 'cnn-lstm', 'transformer']);
    expect([...EXPERIMENTS]).toEqual(['full', 'limited']);
  });

  for (const model of MODELS) {
    for (const variant of VARIANTS) {
      for (const samples of [[1], [0, 1]]) {
        const b = samples.length;
        const parameters = variant.limited ? { limited_time: true } : undefined;

        it(`${model}, JSON, B=${b}, ${variant.label}`, async () => {
          const res = await inferJson(`/v2/models/${model}/infer`, {
            id: `json-${b}`,
            inputs: [ecgTensor(ecgOf(samples, variant.steps), b, variant.steps)],
            ...(parameters === undefined ? {} : { parameters }),
          });
          expect(res.status).toBe(200);
          expect(res.headers.get('content-type')).toMatch(/^application\/json/);
          expect(res.headers.get('inference-header-content-length')).toBeNull();
          const { header, tensors } = await readInferResult(res);
          expect(header).toMatchObject({ model_name: model, model_version: STABLE[model], id: `json-${b}` });
          expect(header.outputs).toHaveLength(1);
          expect(header.outputs[0]).toMatchObject({
            name: 'tmp',
            datatype: 'FP32',
            shape: [b, N_SITES, N_STEPS],
          });
          const tmp = tensors.get('tmp')!;
          expect(tmp.length).toBe(b * N_SITES * N_STEPS);
          expect(await deviation(tmp, samples, model, variant.experiment)).toBeLessThanOrEqual(TOLERANCE_MV);
        });

        it(`${model}, binary, B=${b}, ${variant.label}`, async () => {
          const data = ecgOf(samples, variant.steps);
          const res = await inferBinary(
            `/v2/models/${model}/versions/${STABLE[model]}/infer`,
            {
              inputs: [
                {
                  name: 'ecg',
                  shape: [b, N_LEADS, variant.steps],
                  datatype: 'FP32',
                  parameters: { binary_data_size: data.byteLength },
                },
              ],
              outputs: [{ name: 'tmp', parameters: { binary_data: true } }],
              ...(parameters === undefined ? {} : { parameters }),
            },
            [bytesOfFloats(data)],
          );
          expect(res.status).toBe(200);
          expect(res.headers.get('content-type')).toBe('application/octet-stream');
          const { header, tensors } = await readInferResult(res);
          expect(header.id).toBeUndefined();
          expect(header.outputs[0]).toEqual({
            name: 'tmp',
            datatype: 'FP32',
            shape: [b, N_SITES, N_STEPS],
            parameters: { binary_data_size: b * N_SITES * N_STEPS * 4 },
          });
          const tmp = tensors.get('tmp')!;
          expect(await deviation(tmp, samples, model, variant.experiment)).toBeLessThanOrEqual(TOLERANCE_MV);
        });
      }
    }
  }
});

describe('the protocol as off-the-shelf clients use it', () => {
  it('serves server metadata and health', async () => {
    const meta = await call('/v2');
    expect(meta.status).toBe(200);
    expect(await meta.json()).toEqual({
      name: 'ecg-tmp-edge',
      version: expect.any(String),
      extensions: ['binary_tensor_data'],
    });
    expect(await (await call('/v2/health/live')).json()).toEqual({ live: true });
    const ready = await call('/v2/health/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
  });

  it('serves model metadata for the default version, a version and an alias', async () => {
    const expected = {
      name: 'cnn-lstm',
      versions: ['0.3.3'],
      platform: 'onnx',
      inputs: [{ name: 'ecg', datatype: 'FP32', shape: [-1, 12, -1] }],
      outputs: [{ name: 'tmp', datatype: 'FP32', shape: [-1, 75, 500] }],
      parameters: {
        version: '0.3.3',
        max_batch_size: Number(env.INFER_MAX_BATCH),
        sites: cnnLstmManifest.siteList.map((s) => ({ name: s.name, position_mm: s.positionMm })),
        card: cnnLstmManifest.card,
      },
    };
    expect(expected.parameters.sites).toHaveLength(N_SITES);
    for (const path of ['', '/versions/0.3.3', '/versions/stable', '/versions/latest']) {
      const res = await call(`/v2/models/cnn-lstm${path}`);
      expect(res.status, path).toBe(200);
      expect(await res.json()).toEqual(expected);
    }
  });

  it('returns the in-distribution check of each ECG in the response parameters', async () => {
    type Check = { status: string; distance: number | null; farthest: { feature: string; z: number }[] };
    const checksOf = async (data: Float32Array, b: number, steps: number) => {
      const res = await inferJson('/v2/models/cnn/infer', { inputs: [ecgTensor(data, b, steps)] });
      expect(res.status).toBe(200);
      const { header } = await readInferResult(res);
      return (header.parameters as { in_distribution: Check[] }).in_distribution;
    };
    const scored = ['in-range', 'unusual', 'out-of-range'];
    const simulated = await checksOf(ecgOf([0, 1]), 2, N_STEPS);
    expect(simulated).toHaveLength(2);
    for (const check of simulated) {
      expect(scored).toContain(check.status);
      expect(check.distance).toBeGreaterThan(0);
      expect(check.farthest).toHaveLength(3);
    }
    // The second ECG in µV sent as mV (a units error): out of range; the first is scored as before.
    const data = ecgOf([0, 1]);
    for (let i = N_LEADS * N_STEPS; i < data.length; i++) data[i]! *= 1000;
    const mixed = await checksOf(data, 2, N_STEPS);
    expect(mixed[0]).toEqual(simulated[0]);
    expect(mixed[1]!.status).toBe('out-of-range');
    // The first 10 ms hold no whole QRS: not measurable, never "in range".
    const [limited] = await checksOf(ecgOf([0], 10), 1, 10);
    expect(limited!.status).toBe('not-measurable');
    expect(limited!.distance).toBeNull();
  });

  it('reports every default model ready, by default version and by alias', async () => {
    for (const model of MODELS) {
      for (const path of [`/v2/models/${model}/ready`, `/v2/models/${model}/versions/stable/ready`]) {
        const res = await call(path);
        expect(res.status, path).toBe(200);
        expect(await res.json()).toEqual({ name: model, version: STABLE[model], ready: true });
      }
    }
  });

  it('answers a tritonclient-style request (binary input, no outputs listed) in binary', async () => {
    const data = ecgOf([0]);
    // tritonclient.http sends no Content-Type, and asks for binary outputs when none are listed.
    const { body, length } = binaryBody(
      {
        id: 'triton-1',
        inputs: [
          {
            name: 'ecg',
            shape: [1, 12, 500],
            datatype: 'FP32',
            parameters: { binary_data_size: data.byteLength },
          },
        ],
        parameters: { binary_data_output: true },
      },
      [bytesOfFloats(data)],
    );
    const res = await call('/v2/models/cnn/infer', {
      method: 'POST',
      headers: { 'Inference-Header-Content-Length': String(length) },
      body,
    });
    expect(res.status).toBe(200);
    const headerLength = Number(res.headers.get('inference-header-content-length'));
    const bytes = new Uint8Array(await res.clone().arrayBuffer());
    expect(bytes.length).toBe(headerLength + N_SITES * N_STEPS * 4);
    const { header, tensors } = await readInferResult(res);
    expect(header.id).toBe('triton-1');
    expect(await deviation(tensors.get('tmp')!, [0], 'cnn', 'full')).toBeLessThanOrEqual(TOLERANCE_MV);
  });

  it('takes nested JSON data, and JSON in with binary out', async () => {
    const data = ecgOf([0, 1], 10);
    const nested = [0, 1].map((b) =>
      Array.from({ length: N_LEADS }, (_, lead) =>
        Array.from(data.subarray((b * 12 + lead) * 10, (b * 12 + lead + 1) * 10)),
      ),
    );
    const res = await inferJson('/v2/models/cnn-lstm/infer', {
      inputs: [{ name: 'ecg', shape: [2, 12, 10], datatype: 'FP32', data: nested }],
      outputs: [{ name: 'tmp', parameters: { binary_data: true } }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('inference-header-content-length')).not.toBeNull();
    const { tensors } = await readInferResult(res);
    expect(await deviation(tensors.get('tmp')!, [0, 1], 'cnn-lstm', 'limited')).toBeLessThanOrEqual(
      TOLERANCE_MV,
    );
  });

  it('lets an output ask for JSON while binary_data_output asks for binary', async () => {
    const res = await inferJson('/v2/models/cnn/infer', {
      inputs: [ecgTensor(ecgOf([0]), 1)],
      outputs: [{ name: 'tmp', parameters: { binary_data: false } }],
      parameters: { binary_data_output: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('inference-header-content-length')).toBeNull();
    const { header } = await readInferResult(res);
    expect(header.outputs[0]!.data).toHaveLength(N_SITES * N_STEPS);
  });

  it('reads a gzip- or deflate-compressed request (tritonclient request_compression_algorithm)', async () => {
    for (const encoding of ['gzip', 'deflate'] as const) {
      const data = ecgOf([1]);
      const { body, length } = binaryBody(
        {
          inputs: [
            {
              name: 'ecg',
              shape: [1, 12, 500],
              datatype: 'FP32',
              parameters: { binary_data_size: data.byteLength },
            },
          ],
          outputs: [{ name: 'tmp', parameters: { binary_data: true } }],
        },
        [bytesOfFloats(data)],
      );
      const compressed = await new Response(
        new Blob([body]).stream().pipeThrough(new CompressionStream(encoding)),
      ).arrayBuffer();
      const res = await call('/v2/models/transformer/infer', {
        method: 'POST',
        headers: { 'Content-Encoding': encoding, 'Inference-Header-Content-Length': String(length) },
        body: compressed,
      });
      expect(res.status, encoding).toBe(200);
      const { tensors } = await readInferResult(res);
      expect(await deviation(tensors.get('tmp')!, [1], 'transformer', 'full')).toBeLessThanOrEqual(
        TOLERANCE_MV,
      );
    }
  });

  it('allows cross-origin calls with the binary header', async () => {
    const res = await call('/v2/models/cnn/infer', {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type, inference-header-content-length',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/Inference-Header-Content-Length/i);
    const post = await inferJson(
      '/v2/models/cnn/infer',
      { inputs: [ecgTensor(ecgOf([0]), 1)] },
      {
        ...JSON_HEADERS,
        Origin: 'https://app.example',
      },
    );
    expect(post.headers.get('access-control-expose-headers')).toMatch(/Inference-Header-Content-Length/i);
  });
});

/** A well-formed JSON request for B samples of T steps, with overrides. */
function request(overrides: Record<string, unknown> = {}, input: Record<string, unknown> = {}) {
  return { inputs: [{ ...ecgTensor(ecgOf([0]), 1), ...input }], ...overrides };
}

const binaryRequest = (data: Float32Array, shape: number[], size = data.byteLength, datatype = 'FP32') => ({
  inputs: [{ name: 'ecg', shape, datatype, parameters: { binary_data_size: size } }],
});

type BadCase = {
  readonly name: string;
  readonly send: () => Response | Promise<Response>;
  readonly status: number;
  readonly code: string;
  readonly message?: RegExp;
};

const INFER = '/v2/models/cnn/infer';
const raw = (body: BodyInit, headers: Record<string, string> = JSON_HEADERS) =>
  call(INFER, { method: 'POST', headers, body });

const BAD: BadCase[] = [
  {
    name: 'an unknown model',
    send: () => inferJson('/v2/models/nope/infer', request()),
    status: 404,
    code: 'not_found',
  },
  {
    name: 'an unknown version',
    send: () => inferJson('/v2/models/cnn/versions/9.9.9/infer', request()),
    status: 404,
    code: 'not_found',
  },
  {
    name: 'an unknown alias',
    send: () => inferJson('/v2/models/cnn/versions/beta/infer', request()),
    status: 404,
    code: 'not_found',
  },
  {
    name: 'a malformed model name',
    send: () => inferJson('/v2/models/NOT..ok!/infer', request()),
    status: 400,
    code: 'bad_name',
  },
  { name: 'a body that is not JSON', send: () => raw('{"inputs": ['), status: 400, code: 'bad_json' },
  { name: 'JSON that is not an object', send: () => raw('[1, 2]'), status: 400, code: 'bad_request' },
  { name: 'no inputs', send: () => inferJson(INFER, { inputs: [] }), status: 400, code: 'bad_request' },
  {
    name: 'an id that is not a string',
    send: () => inferJson(INFER, request({ id: 7 })),
    status: 400,
    code: 'bad_request',
  },
  {
    name: 'the wrong input name',
    send: () => inferJson(INFER, request({}, { name: 'input__0' })),
    status: 400,
    code: 'unknown_input',
    message: /'input__0'.*'ecg'/,
  },
  {
    name: 'a second input',
    send: () => {
      const one = ecgTensor(ecgOf([0]), 1);
      return inferJson(INFER, { inputs: [one, { ...one, name: 'extra' }] });
    },
    status: 400,
    code: 'unknown_input',
  },
  {
    name: 'a datatype other than FP32',
    send: () => inferJson(INFER, request({}, { datatype: 'FP64' })),
    status: 400,
    code: 'bad_datatype',
    message: /FP64/,
  },
  {
    name: 'FP16 binary data',
    send: () => {
      const half = new Uint8Array(12 * 500 * 2);
      return inferBinary(INFER, binaryRequest(new Float32Array(0), [1, 12, 500], half.length, 'FP16'), [
        half,
      ]);
    },
    status: 400,
    code: 'bad_datatype',
  },
  {
    name: 'a rank-2 shape',
    send: () => inferJson(INFER, request({}, { shape: [12, 500] })),
    status: 400,
    code: 'bad_shape',
    message: /rank 3/,
  },
  {
    name: 'the wrong number of leads',
    send: () => inferJson(INFER, request({}, { shape: [1, 10, 600] })),
    status: 400,
    code: 'bad_shape',
    message: /12 leads/,
  },
  {
    name: 'a length other than 500 or 10 steps',
    send: () => inferJson(INFER, request({}, { shape: [1, 12, 250], data: Array.from(ecgOf([0], 250)) })),
    status: 400,
    code: 'bad_shape',
    message: /500 time steps.*10.*got 250/,
  },
  {
    name: 'a negative dimension',
    send: () => inferJson(INFER, request({}, { shape: [-1, 12, 500] })),
    status: 400,
    code: 'bad_shape',
  },
  {
    name: 'batch size 0',
    send: () => inferJson(INFER, request({}, { shape: [0, 12, 500], data: [] })),
    status: 400,
    code: 'bad_shape',
  },
  {
    name: 'JSON data shorter than the shape',
    send: () => inferJson(INFER, request({}, { data: Array.from(ecgOf([0])).slice(1) })),
    status: 400,
    code: 'bad_shape',
    message: /needs 6000 values, data has 5999/,
  },
  {
    name: 'binary_data_size not matching the shape',
    send: () => {
      const data = ecgOf([0]);
      return inferBinary(INFER, binaryRequest(data, [2, 12, 500]), [bytesOfFloats(data)]);
    },
    status: 400,
    code: 'bad_shape',
  },
  {
    name: 'a string in the data',
    send: () => {
      const data: unknown[] = Array.from(ecgOf([0]));
      data[5] = 'x';
      return inferJson(INFER, request({}, { data }));
    },
    status: 400,
    code: 'bad_value',
  },
  {
    name: 'Infinity (1e999) in JSON',
    send: () => raw(JSON.stringify(request()).replace(/"data":\[[^,]+/, '"data":[1e999')),
    status: 400,
    code: 'bad_value',
    message: /Infinity at \[0, 0, 0\]/,
  },
  {
    name: 'a value beyond the float32 range in JSON',
    send: () => raw(JSON.stringify(request()).replace(/"data":\[[^,]+/, '"data":[-1e39')),
    status: 400,
    code: 'bad_value',
  },
  {
    name: 'NaN in binary data',
    send: () => {
      const data = ecgOf([0]);
      data[12 * 500 - 1] = Number.NaN;
      return inferBinary(INFER, binaryRequest(data, [1, 12, 500]), [bytesOfFloats(data)]);
    },
    status: 400,
    code: 'bad_value',
    message: /NaN at \[0, 11, 499\]/,
  },
  {
    name: 'NaN in a step that limited time discards',
    send: () => {
      const data = ecgOf([0]);
      data[200] = Number.NaN;
      return inferBinary(
        INFER,
        { ...binaryRequest(data, [1, 12, 500]), parameters: { limited_time: true } },
        [bytesOfFloats(data)],
      );
    },
    status: 400,
    code: 'bad_value',
  },
  {
    name: '-Infinity in binary data',
    send: () => {
      const data = ecgOf([0]);
      data[3] = Number.NEGATIVE_INFINITY;
      return inferBinary(INFER, binaryRequest(data, [1, 12, 500]), [bytesOfFloats(data)]);
    },
    status: 400,
    code: 'bad_value',
  },
  {
    name: `a batch larger than INFER_MAX_BATCH (${env.INFER_MAX_BATCH})`,
    send: () => {
      const data = new Float32Array(9 * 12 * 500);
      return inferBinary(INFER, binaryRequest(data, [9, 12, 500]), [bytesOfFloats(data)]);
    },
    status: 413,
    code: 'batch_too_large',
    message: /batch size 9.*at most 8/,
  },
  {
    name: 'a body over the size cap',
    send: () => raw(new Uint8Array(MAX_BODY_BYTES + 1)),
    status: 413,
    code: 'too_large',
  },
  {
    name: 'a streamed body over the size cap (no Content-Length)',
    send: () => {
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(MAX_BODY_BYTES + 1).fill(32));
          controller.close();
        },
      });
      // Through the app in this isolate: via SELF the aborted upload is logged as a lost connection.
      return app.request(INFER, { method: 'POST', headers: JSON_HEADERS, body: stream }, env);
    },
    status: 413,
    code: 'too_large',
  },
  {
    name: 'a header length larger than the body',
    send: () => {
      const body = JSON.stringify(request());
      return call(INFER, {
        method: 'POST',
        headers: { 'Inference-Header-Content-Length': String(body.length + 1) },
        body,
      });
    },
    status: 400,
    code: 'bad_binary',
    message: /the body has only \d+ bytes/,
  },
  {
    name: 'a header length that is not a number',
    send: () =>
      call(INFER, {
        method: 'POST',
        headers: { 'Inference-Header-Content-Length': 'twelve' },
        body: JSON.stringify(request()),
      }),
    status: 400,
    code: 'bad_header',
  },
  {
    name: 'truncated tensor bytes',
    send: () => {
      const data = ecgOf([0]);
      return inferBinary(INFER, binaryRequest(data, [1, 12, 500]), [bytesOfFloats(data).subarray(0, 1000)]);
    },
    status: 400,
    code: 'bad_binary',
    message: /declare 24000 bytes.*1000 follow/,
  },
  {
    name: 'bytes after the declared tensors',
    send: () => {
      const data = ecgOf([0]);
      return inferBinary(INFER, binaryRequest(data, [1, 12, 500]), [bytesOfFloats(data), new Uint8Array(8)]);
    },
    status: 400,
    code: 'bad_binary',
  },
  {
    name: 'binary data without the header-length header',
    send: () => {
      const data = ecgOf([0]);
      const { body } = binaryBody(binaryRequest(data, [1, 12, 500]), [bytesOfFloats(data)]);
      return raw(body, { 'Content-Type': 'application/octet-stream' });
    },
    status: 400,
    code: 'bad_json',
    message: /Inference-Header-Content-Length/,
  },
  {
    name: 'binary_data_size without binary data',
    send: () => inferJson(INFER, binaryRequest(ecgOf([0]), [1, 12, 500])),
    status: 400,
    code: 'bad_binary',
    message: /no Inference-Header-Content-Length/,
  },
  {
    name: 'an input with both data and binary_data_size',
    send: () => inferJson(INFER, request({}, { parameters: { binary_data_size: 24000 } })),
    status: 400,
    code: 'bad_request',
  },
  {
    name: 'an unsupported content type',
    send: () => raw(JSON.stringify(request()), { 'Content-Type': 'application/x-www-form-urlencoded' }),
    status: 415,
    code: 'unsupported_media_type',
    message: /application\/json/,
  },
  {
    name: 'an unsupported content encoding',
    send: () => raw(JSON.stringify(request()), { ...JSON_HEADERS, 'Content-Encoding': 'br' }),
    status: 415,
    code: 'unsupported_encoding',
  },
  {
    name: 'a body that is not the gzip it claims to be',
    send: () => raw(JSON.stringify(request()), { ...JSON_HEADERS, 'Content-Encoding': 'gzip' }),
    status: 400,
    code: 'bad_encoding',
  },
  {
    name: 'an unknown output',
    send: () => inferJson(INFER, request({ outputs: [{ name: 'output__0' }] })),
    status: 400,
    code: 'unknown_output',
    message: /'output__0'.*'tmp'/,
  },
  {
    name: 'the classification extension',
    send: () => inferJson(INFER, request({ outputs: [{ name: 'tmp', parameters: { classification: 3 } }] })),
    status: 400,
    code: 'bad_parameter',
  },
  {
    name: 'binary_data that is not a boolean',
    send: () => inferJson(INFER, request({ outputs: [{ name: 'tmp', parameters: { binary_data: 'yes' } }] })),
    status: 400,
    code: 'bad_parameter',
  },
  {
    name: 'limited_time that is not a boolean',
    send: () => inferJson(INFER, request({ parameters: { limited_time: 'yes' } })),
    status: 400,
    code: 'bad_parameter',
  },
];

describe('bad requests get a 4xx JSON error naming the problem, never a 500', () => {
  for (const bad of BAD) {
    it(`${bad.name} → ${bad.status} ${bad.code}`, async () => {
      const res = await bad.send();
      const error = await errorOf(res);
      expect({ status: res.status, code: error.code }, error.message).toEqual({
        status: bad.status,
        code: bad.code,
      });
      if (bad.message !== undefined) expect(error.message).toMatch(bad.message);
    });
  }

  it('answers 404 for metadata and readiness of unknown models and versions', async () => {
    for (const path of [
      '/v2/models/nope',
      '/v2/models/nope/ready',
      '/v2/models/cnn/versions/9.9.9',
      '/v2/models/cnn/versions/9.9.9/ready',
      '/v2/models/cnn/versions/beta/ready',
    ]) {
      const res = await call(path);
      expect(res.status, path).toBe(404);
      expect((await errorOf(res)).code).toBe('not_found');
    }
  });
});

describe('a version whose graphs cannot be loaded', () => {
  it('is not ready (503) when a graph is not ONNX, and infer says why', async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('garbage', '1.0.0');
    expect((await publish(token, 'garbage', manifest, files)).status).toBe(201);
    const ready = await call('/v2/models/garbage/ready');
    expect(ready.status).toBe(503);
    const error = await errorOf(ready);
    expect(error.code).toBe('model_unavailable');
    expect(error.message).toMatch(/model\.onnx is not a usable ONNX graph/);
    const infer = await inferJson('/v2/models/garbage/infer', request());
    expect(infer.status).toBe(503);
    expect((await errorOf(infer)).code).toBe('model_unavailable');
  });

  it('is not ready (503) when a blob in storage no longer matches its digest', async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('tampered', '1.0.0');
    expect((await publish(token, 'tampered', manifest, files)).status).toBe(201);
    await env.BLOBS.put(blobKey(manifest.files[0]!.sha256), new TextEncoder().encode('something else'));
    const res = await call('/v2/models/tampered/versions/1.0.0/ready');
    expect(res.status).toBe(503);
    expect((await errorOf(res)).message).toMatch(
      /model\.onnx in storage has sha256 [0-9a-f]{64}, the manifest says/,
    );
  });
});

describe('the per-isolate model cache', () => {
  const disposedLog = () => {
    const disposed: string[] = [];
    const cache = createModelCache<string>({ capacity: 2, dispose: async (v) => void disposed.push(v) });
    return { cache, disposed };
  };
  const settle = () => new Promise((r) => setTimeout(r, 0));

  it('keeps the most recently used entries and disposes of the evicted one', async () => {
    const { cache, disposed } = disposedLog();
    const use = (key: string) =>
      cache.use(
        key,
        async () => key,
        async (v) => v,
      );
    await use('a');
    await use('b');
    await use('a');
    await use('c');
    await settle();
    expect(cache.keys()).toEqual(['a', 'c']);
    expect(disposed).toEqual(['b']);
  });

  it('loads once for concurrent users and forgets a failed load', async () => {
    const { cache } = disposedLog();
    let loads = 0;
    const load = async () => {
      loads++;
      await settle();
      return 'x';
    };
    const results = await Promise.all([1, 2, 3].map(() => cache.use('x', load, async (v) => v)));
    expect(results).toEqual(['x', 'x', 'x']);
    expect(loads).toBe(1);
    await expect(
      cache.use(
        'y',
        async () => Promise.reject(new Error('no')),
        async (v) => v,
      ),
    ).rejects.toThrow('no');
    expect(cache.keys()).toEqual(['x']);
    expect(
      await cache.use(
        'y',
        async () => 'y',
        async (v) => v,
      ),
    ).toBe('y');
  });

  it('disposes of an entry evicted while in use only after its last user is done', async () => {
    const { cache, disposed } = disposedLog();
    let finish = () => {};
    const busy = cache.use(
      'a',
      async () => 'a',
      () => new Promise<void>((r) => (finish = r)),
    );
    await settle();
    await cache.use(
      'b',
      async () => 'b',
      async () => undefined,
    );
    await cache.use(
      'c',
      async () => 'c',
      async () => undefined,
    );
    await settle();
    expect(cache.keys()).toEqual(['b', 'c']);
    expect(disposed).toEqual([]);
    finish();
    await busy;
    await settle();
    expect(disposed).toEqual(['a']);
  });
});
