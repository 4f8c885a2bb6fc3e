/**
 * @module
 * The CPU fallback: Open Inference Protocol v2 (KServe / Triton HTTP) under /v2, so an off-the-shelf
 * client (e.g. tritonclient.http) can call it unchanged:
 *   GET  /                                       server metadata (extensions: binary_tensor_data)
 *   GET  /health/live, /health/ready             200 while the Worker runs
 *   GET  /models/:name[/versions/:version]       model metadata (`:version` may be an alias; without
 *                                                it the model's `stable`, else `latest`, version);
 *                                                `parameters` names the version described, the
 *                                                output's rows (`sites`), the model card and the
 *                                                batch cap (`max_batch_size`)
 *   GET  /models/:name[/versions/:version]/ready 200 once the version's graphs load, else 503
 *   POST /models/:name[/versions/:version]/infer raw ECG `ecg` FP32 [B, 12, 500 | 10] in mV →
 *                                                TMP `tmp` FP32 [B, 75, 500] in mV, and per ECG
 *                                                the in-distribution check in the response's
 *                                                `parameters.in_distribution`
 * A 10-step input, or 500 steps with `parameters.limited_time: true`, is the paper's Exp II. Sessions
 * are cached per isolate (a few versions, least recently used out); B is capped by INFER_MAX_BATCH.
 * Errors keep the API's shape `{ "error": { "code", "message" } }` rather than OIP's `{ "error": "…" }`.
 */

import {
  checkInDistribution,
  type InDistribution,
  type Manifest,
  N_LEADS,
  N_SITES,
  N_STEPS,
} from '@ecg-tmp/core';
import { type Context, Hono } from 'hono';
import packageJson from '../../package.json' with { type: 'json' };
import { edgeCors } from '../cors.ts';
import { getVersion, listVersions } from '../db/index.ts';
import { ApiError, notFound } from '../errors.ts';
import {
  DATATYPE,
  encodeInferResponse,
  HEADER_LENGTH,
  type InferRequest,
  readInferRequest,
} from '../inference/oip.ts';
import { modelInput, predict } from '../inference/predict.ts';
import {
  createModelCache,
  type LoadedModel,
  loadModel,
  modelKey,
  releaseModel,
} from '../inference/sessions.ts';
import { compareVersions, modelName } from '../names.ts';
import { defaultVersion, manifestFor } from './models.ts';

const INPUT = 'ecg';
const OUTPUT = 'tmp';

/** A few versions' sessions per isolate: the three defaults and one more. */
const models = createModelCache<LoadedModel>({ capacity: 4, dispose: releaseModel });

type Ctx = Context<{ Bindings: Env }>;

/** The manifest the path names: `:version` (a version or alias) or the model's default version. */
async function manifestOf(c: Ctx): Promise<Manifest> {
  const name = modelName(c.req.param('name')!);
  const versionParam = c.req.param('version');
  if (versionParam !== undefined) return (await manifestFor(c.env.DB, name, versionParam)).manifest;
  const version = await defaultVersion(c.env.DB, name);
  const row = await getVersion(c.env.DB, name, version);
  if (row === null) throw notFound(`version ${version} of model '${name}'`);
  return row.manifest;
}

function useModel<R>(env: Env, manifest: Manifest, fn: (model: LoadedModel) => Promise<R>): Promise<R> {
  return models.use(modelKey(manifest), () => loadModel(env.BLOBS, manifest), fn);
}

function maxBatch(env: Env): number {
  const n = Number(env.INFER_MAX_BATCH);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`INFER_MAX_BATCH must be a positive integer, got '${env.INFER_MAX_BATCH}'`);
  }
  return n;
}

/** The one input this API takes, checked against the model's contract and the batch cap. */
function ecgInput(request: InferRequest, limit: number) {
  const [input, ...extra] = request.inputs;
  const expected = `exactly one input, '${INPUT}' (${DATATYPE} [B, ${N_LEADS}, ${N_STEPS} or 10], mV)`;
  if (input === undefined || input.name !== INPUT || extra.length > 0) {
    const names = request.inputs.map((i) => `'${i.name}'`).join(', ');
    throw new ApiError(400, 'unknown_input', `the request has inputs ${names}; expected ${expected}`);
  }
  const [b, c, t] = input.shape;
  if (input.shape.length !== 3 || b === undefined || c === undefined || t === undefined) {
    throw new ApiError(
      400,
      'bad_shape',
      `input '${INPUT}' has shape [${input.shape.join(', ')}]; expected rank 3, [B, ${N_LEADS}, T]`,
    );
  }
  if (b < 1) throw new ApiError(400, 'bad_shape', `input '${INPUT}' has batch size 0`);
  if (b > limit) {
    throw new ApiError(
      413,
      'batch_too_large',
      `input '${INPUT}' has batch size ${b}; this server takes at most ${limit} per request`,
    );
  }
  // Leads, steps and finite values are checked now, before the registry is read, as predict() will
  // check them again (the normalisation 'none' only copies).
  modelInput({ data: input.data, shape: [b, c, t] }, false, 'none');
  return { data: input.data, shape: [b, c, t] as const };
}

function limitedTime(request: InferRequest): boolean {
  const value = request.parameters.limited_time ?? false;
  if (typeof value !== 'boolean') {
    throw new ApiError(400, 'bad_parameter', 'parameters.limited_time must be true or false');
  }
  return value;
}

function wantsBinary(request: InferRequest): boolean {
  const outputs = request.outputs ?? [{ name: OUTPUT, binary: request.binaryOutput }];
  const unknown = outputs.filter((o) => o.name !== OUTPUT);
  if (unknown.length > 0) {
    throw new ApiError(
      400,
      'unknown_output',
      `the model has no output ${unknown.map((o) => `'${o.name}'`).join(', ')}; its one output is '${OUTPUT}'`,
    );
  }
  return outputs[0]!.binary;
}

/**
 * The in-distribution check (core's checkInDistribution) of each ECG in the batch against the version's
 * training statistics, in the protocol's snake_case. A version exported without statistics gives
 * `not-checked` (never "in range"); a 10-step input (Exp II) has no QRS to measure: `not-measurable`.
 */
function inDistributionOf(ecg: ReturnType<typeof ecgInput>, manifest: Manifest) {
  const [b, , t] = ecg.shape;
  const per = N_LEADS * t;
  return Array.from({ length: b }, (_, i) =>
    wireCheck(checkInDistribution(ecg.data.subarray(i * per, (i + 1) * per), manifest.inDistribution)),
  );
}

function wireCheck(check: InDistribution) {
  return {
    status: check.status,
    distance: check.distance,
    threshold: check.threshold,
    training_fraction_closer: check.trainingFractionCloser,
    farthest: check.farthest.map((f) => ({ feature: f.feature, label: f.label, shown: f.shown, z: f.z })),
    message: check.message,
  };
}

export const inference = new Hono<{ Bindings: Env }>();

inference.use(
  '*',
  edgeCors({
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    // Authorization: an app's infer token (src/ratelimit.ts), so a page can identify itself.
    allowHeaders: ['Content-Type', 'Content-Encoding', HEADER_LENGTH, 'Authorization'],
    exposeHeaders: [HEADER_LENGTH],
    maxAge: 86400,
  }),
);

inference.get('/', (c) =>
  c.json({ name: 'ecg-tmp-edge', version: packageJson.version, extensions: ['binary_tensor_data'] }),
);
inference.get('/health/live', (c) => c.json({ live: true }));
inference.get('/health/ready', (c) => c.json({ ready: true }));

for (const base of ['/models/:name', '/models/:name/versions/:version']) {
  inference.get(base, async (c) => {
    const manifest = await manifestOf(c);
    const versions = (await listVersions(c.env.DB))
      .filter((v) => v.model === manifest.name)
      .map((v) => v.version)
      .sort(compareVersions);
    return c.json({
      name: manifest.name,
      versions,
      platform: 'onnx',
      inputs: [{ name: INPUT, datatype: DATATYPE, shape: [-1, N_LEADS, -1] }],
      outputs: [{ name: OUTPUT, datatype: DATATYPE, shape: [-1, N_SITES, N_STEPS] }],
      // Extensions in the protocol's optional `parameters`: which version this describes, what row i of
      // the output is (absent for a version exported before the site list), the model card, and the
      // batch cap a client must split by.
      parameters: {
        version: manifest.version,
        max_batch_size: maxBatch(c.env),
        ...(manifest.siteList === undefined
          ? {}
          : { sites: manifest.siteList.map((s) => ({ name: s.name, position_mm: s.positionMm })) }),
        ...(manifest.card === undefined ? {} : { card: manifest.card }),
      },
    });
  });

  inference.get(`${base}/ready`, async (c) => {
    const manifest = await manifestOf(c);
    await useModel(c.env, manifest, async () => undefined);
    return c.json({ name: manifest.name, version: manifest.version, ready: true });
  });

  inference.post(`${base}/infer`, async (c) => {
    // The request is checked in full before the registry is read: bad input (the common case under
    // abuse or fuzzing) costs no D1 query and never reaches ORT.
    modelName(c.req.param('name')!);
    const request = await readInferRequest(c.req.raw);
    const ecg = ecgInput(request, maxBatch(c.env));
    const options = { limitedTime: limitedTime(request) };
    const binary = wantsBinary(request);
    const manifest = await manifestOf(c);
    const tmp = await useModel(c.env, manifest, (model) => predict(model, ecg, options));
    const { body, headers } = encodeInferResponse({
      modelName: manifest.name,
      modelVersion: manifest.version,
      ...(request.id === undefined ? {} : { id: request.id }),
      parameters: { in_distribution: inDistributionOf(ecg, manifest) },
      outputs: [{ name: OUTPUT, shape: tmp.shape, data: tmp.data, binary }],
    });
    return c.body(body, 200, headers);
  });
}
