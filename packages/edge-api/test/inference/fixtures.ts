/**
 * Fixtures for the inference tests inside workerd, which cannot read the repository: the shipped
 * default models' manifests and fp32 graphs, and the reference ECGs and TMPs of fixtures/ (written by
 * fixtures/make-references.ts), inlined into the test bundle as data: URLs by Vite's `?url&inline`.
 * Also OIP v2 request and response helpers.
 */

import { expect } from 'vitest';
import aliases from '../../../../models/aliases.json' with { type: 'json' };
import cnnManifest from '../../../../models/cnn/0.2.3/manifest.json' with { type: 'json' };
import cnnGraph from '../../../../models/cnn/0.2.3/model.onnx?url&inline';
import cnnLstmManifest from '../../../../models/cnn-lstm/0.3.3/manifest.json' with { type: 'json' };
import cnnLstmGraph from '../../../../models/cnn-lstm/0.3.3/model.onnx?url&inline';
import decoderStepGraph from '../../../../models/transformer/0.2.3/decoder-step.onnx?url&inline';
import encoderGraph from '../../../../models/transformer/0.2.3/encoder.onnx?url&inline';
import transformerManifest from '../../../../models/transformer/0.2.3/manifest.json' with { type: 'json' };
import cnnFull from '../fixtures/cnn.full.bin?url&inline';
import cnnLimited from '../fixtures/cnn.limited.bin?url&inline';
import cnnLstmFull from '../fixtures/cnn-lstm.full.bin?url&inline';
import cnnLstmLimited from '../fixtures/cnn-lstm.limited.bin?url&inline';
import ecgUrl from '../fixtures/ecg.bin?url&inline';
import type { ReferenceExperiment, ReferenceModel } from '../fixtures/references.ts';
import transformerFull from '../fixtures/transformer.full.bin?url&inline';
import transformerLimited from '../fixtures/transformer.limited.bin?url&inline';
import { call, publish, publishToken } from '../helpers.ts';

const DEFAULTS: Record<ReferenceModel, { manifest: typeof cnnManifest; graphs: Record<string, string> }> = {
  cnn: { manifest: cnnManifest, graphs: { 'model.onnx': cnnGraph } },
  'cnn-lstm': { manifest: cnnLstmManifest, graphs: { 'model.onnx': cnnLstmGraph } },
  transformer: {
    manifest: transformerManifest,
    graphs: { 'encoder.onnx': encoderGraph, 'decoder-step.onnx': decoderStepGraph },
  },
};

/**
 * The models publishDefaults() publishes, each at its stable version (models/aliases.json); the other
 * names there are not in these tests.
 */
export const PUBLISHED_STABLE: Record<string, string> = Object.fromEntries(
  Object.keys(DEFAULTS).map((name) => [name, (aliases as Record<string, { stable: string }>)[name]!.stable]),
);

const REFERENCES: Record<ReferenceModel, Record<ReferenceExperiment, string>> = {
  cnn: { full: cnnFull, limited: cnnLimited },
  'cnn-lstm': { full: cnnLstmFull, limited: cnnLstmLimited },
  transformer: { full: transformerFull, limited: transformerLimited },
};

async function bytesOf(url: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(url)).arrayBuffer());
}

/** The fixtures are little-endian float32, as is workerd. */
async function floatsOf(url: string): Promise<Float32Array> {
  return new Float32Array((await bytesOf(url)).buffer);
}

/**
 * Publishes the three default models through the API, fp32 files only (the fallback never reads the
 * fp16 ones), and points `stable` at them as models/aliases.json does.
 */
export async function publishDefaults(): Promise<void> {
  const token = await publishToken();
  for (const [name, { manifest, graphs }] of Object.entries(DEFAULTS)) {
    const stable = (aliases as Record<string, { stable: string }>)[name]!.stable;
    // The imports above name a version folder; the references were made from the stable one.
    expect(manifest.version, `models/aliases.json moved ${name}'s stable; update the imports`).toBe(stable);
    const files = new Map<string, Uint8Array>();
    for (const [path, url] of Object.entries(graphs)) files.set(path, await bytesOf(url));
    const fp32 = { ...manifest, files: manifest.files.filter((f) => f.dtype === 'fp32') };
    const res = await publish(token, name, fp32, files);
    expect(res.status, await res.clone().text()).toBe(201);
    const alias = await call(`/v1/models/${name}/aliases/stable`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ version: stable }),
    });
    expect(alias.status).toBe(200);
  }
}

/** The reference raw ECGs [SAMPLES, 12, 500] in mV. */
export const referenceEcg = () => floatsOf(ecgUrl);

/** The reference TMP of a default model, subsampled as fixtures/references.ts describes. */
export const referenceTmp = (model: ReferenceModel, experiment: ReferenceExperiment) =>
  floatsOf(REFERENCES[model][experiment]);

export const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** POSTs an OIP request as plain JSON. */
export function inferJson(path: string, request: unknown, headers: Record<string, string> = JSON_HEADERS) {
  return call(path, { method: 'POST', headers, body: JSON.stringify(request) });
}

/** The binary tensor data extension: the JSON header, then each tensor's bytes. */
export function binaryBody(
  request: unknown,
  tensors: readonly Uint8Array[],
): { body: Uint8Array; length: number } {
  const header = new TextEncoder().encode(JSON.stringify(request));
  const body = new Uint8Array(header.length + tensors.reduce((n, t) => n + t.length, 0));
  body.set(header);
  let offset = header.length;
  for (const t of tensors) {
    body.set(t, offset);
    offset += t.length;
  }
  return { body, length: header.length };
}

export function inferBinary(path: string, request: unknown, tensors: readonly Uint8Array[]) {
  const { body, length } = binaryBody(request, tensors);
  return call(path, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/octet-stream',
      'Inference-Header-Content-Length': String(length),
    },
    body,
  });
}

export const bytesOfFloats = (data: Float32Array) =>
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

export interface InferResult {
  readonly header: {
    model_name: string;
    model_version: string;
    id?: string;
    parameters?: Record<string, unknown>;
    outputs: {
      name: string;
      datatype: string;
      shape: number[];
      data?: number[];
      parameters?: Record<string, unknown>;
    }[];
  };
  /** Each output's values, from JSON or from the binary section. */
  readonly tensors: Map<string, Float32Array>;
}

/** Reads an OIP response the way tritonclient's InferResult does. */
export async function readInferResult(res: Response): Promise<InferResult> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  const length = res.headers.get('Inference-Header-Content-Length');
  const headerLength = length === null ? bytes.length : Number(length);
  const header = JSON.parse(
    new TextDecoder().decode(bytes.subarray(0, headerLength)),
  ) as InferResult['header'];
  const tensors = new Map<string, Float32Array>();
  let offset = headerLength;
  for (const o of header.outputs) {
    const size = o.parameters?.binary_data_size;
    if (typeof size === 'number') {
      tensors.set(o.name, new Float32Array(bytes.slice(offset, offset + size).buffer));
      offset += size;
    } else {
      tensors.set(o.name, Float32Array.from(o.data!));
    }
  }
  expect(offset, 'bytes after the last binary output').toBe(bytes.length);
  return { header, tensors };
}

export async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  return body.error;
}
