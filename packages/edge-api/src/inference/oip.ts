/**
 * @module
 * The Open Inference Protocol v2 (KServe / Triton) wire format for FP32 tensors: an inference request
 * as JSON, or with the binary tensor data extension (a JSON header of `Inference-Header-Content-Length`
 * bytes followed by each binary input's raw little-endian bytes, in input order); and the response as
 * JSON or as a JSON header plus raw output bytes. What this module rejects is malformed protocol
 * (400/413/415); whether the tensors suit a model is for the caller.
 * Specification: https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol
 */

import { checkLength, declaredLength, readAtMost } from '../body.ts';
import { ApiError } from '../errors.ts';

/** Largest request body, after decompression. A full batch of 8 in JSON is about 1 MB. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
export const HEADER_LENGTH = 'Inference-Header-Content-Length';
export const DATATYPE = 'FP32';
const FP32_BYTES = 4;
/**
 * Most dimensions a tensor may have. Data may be nested as deep as the shape, so the rank also bounds
 * how deep the reader recurses: a shape of 100,000 ones with data nested as deep overflowed the stack.
 */
export const MAX_RANK = 8;

/** Media types read as an inference request; a browser's fetch with a string body sends text/plain. */
const MEDIA_TYPES = ['application/json', 'application/octet-stream', 'text/plain'] as const;
const ENCODINGS = ['identity', 'gzip', 'deflate'] as const;

export interface InputTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface RequestedOutput {
  readonly name: string;
  readonly binary: boolean;
}

export interface InferRequest {
  readonly id?: string;
  readonly inputs: readonly InputTensor[];
  /** As listed by the request; undefined means every output, in `binaryOutput` form. */
  readonly outputs?: readonly RequestedOutput[];
  /** The request-level `binary_data_output`. */
  readonly binaryOutput: boolean;
  /** Request parameters other than the protocol's own. */
  readonly parameters: Readonly<Record<string, unknown>>;
}

export interface OutputTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
  readonly binary: boolean;
}

const bad = (code: string, message: string) => new ApiError(400, code, message);
const tooLarge = () =>
  new ApiError(413, 'too_large', `the request body may have at most ${MAX_BODY_BYTES} bytes`);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function preview(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** The body's bytes, decompressed (tritonclient's request_compression_algorithm), at most MAX_BODY_BYTES. */
async function readBody(request: Request): Promise<Uint8Array> {
  const mediaType = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== '' && !(MEDIA_TYPES as readonly string[]).includes(mediaType)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `Unsupported content type '${mediaType}'. Expected one of: ${MEDIA_TYPES.join(', ')}`,
    );
  }
  const encoding = (request.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  if (!(ENCODINGS as readonly string[]).includes(encoding)) {
    throw new ApiError(
      415,
      'unsupported_encoding',
      `Unsupported content encoding '${encoding}'. Expected one of: ${ENCODINGS.join(', ')}`,
    );
  }
  const declared = declaredLength(request, MAX_BODY_BYTES, tooLarge);
  if (request.body === null) {
    checkLength(declared, 0);
    return new Uint8Array(0);
  }
  if (encoding === 'identity') {
    const bytes = await readAtMost(request.body, MAX_BODY_BYTES, tooLarge);
    checkLength(declared, bytes.length);
    return bytes;
  }
  // Content-Length counts the compressed bytes: they are read (at most MAX_BODY_BYTES) and checked
  // first, then decompressed natively from memory.
  const sent = await readAtMost(request.body, MAX_BODY_BYTES, tooLarge);
  checkLength(declared, sent.length);
  try {
    return await readAtMost(
      new Response(sent).body!.pipeThrough(new DecompressionStream(encoding as 'gzip' | 'deflate')),
      MAX_BODY_BYTES,
      tooLarge,
    );
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw bad('bad_encoding', `the body is not valid ${encoding} data: ${(err as Error).message}`);
  }
}

/** Splits the body at Inference-Header-Content-Length: the JSON header and what follows it. */
function splitBody(request: Request, body: Uint8Array): { json: Uint8Array; binary: Uint8Array } {
  const header = request.headers.get(HEADER_LENGTH);
  if (header === null) return { json: body, binary: body.subarray(body.length) };
  const length = /^\d{1,10}$/.test(header.trim()) ? Number(header) : Number.NaN;
  if (!Number.isSafeInteger(length)) {
    throw bad('bad_header', `${HEADER_LENGTH} must be a byte count, got '${header.slice(0, 40)}'`);
  }
  if (length > body.length) {
    throw bad('bad_binary', `${HEADER_LENGTH} is ${length} but the body has only ${body.length} bytes`);
  }
  return { json: body.subarray(0, length), binary: body.subarray(length) };
}

function parseJson(bytes: Uint8Array, binaryHeader: boolean): unknown {
  // Binary tensor bytes sent without the header are the likeliest reason for a body that is not JSON.
  const hint = binaryHeader ? '' : `; binary tensor data needs the ${HEADER_LENGTH} header`;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw bad('bad_json', `the inference request is not UTF-8 JSON${hint}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw bad('bad_json', `the inference request is not valid JSON (${(err as Error).message})${hint}`);
  }
}

function parseShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(
      'bad_shape',
      `input '${name}': shape must be a list of non-negative integers, got ${preview(shape)}`,
    );
  }
  if (shape.length > MAX_RANK) {
    throw bad(
      'bad_shape',
      `input '${name}': shape has ${shape.length} dimensions; at most ${MAX_RANK} are read`,
    );
  }
  return shape as number[];
}

/** Flattens row-major `data` (flat, or nested as deep as the shape); every leaf must be a number. */
function flatten(name: string, data: unknown, rank: number): number[] {
  const out: number[] = [];
  const walk = (v: unknown, depth: number) => {
    if (typeof v === 'number') {
      out.push(v);
    } else if (Array.isArray(v) && depth < rank) {
      for (const x of v) walk(x, depth + 1);
    } else {
      throw bad('bad_value', `input '${name}': data must hold numbers (flat or nested), found ${preview(v)}`);
    }
  };
  if (!Array.isArray(data)) throw bad('bad_value', `input '${name}': data must be a list of numbers`);
  walk(data, 0);
  return out;
}

interface RawInput {
  readonly name: string;
  readonly shape: number[];
  readonly data?: unknown;
  readonly binarySize?: number;
}

function parseInput(raw: unknown, index: number): RawInput {
  if (!isRecord(raw)) throw bad('bad_request', `inputs[${index}] must be an object`);
  const { name, shape, datatype, data, parameters } = raw;
  if (typeof name !== 'string') throw bad('bad_request', `inputs[${index}].name must be a string`);
  if (datatype !== DATATYPE) {
    throw bad('bad_datatype', `input '${name}': datatype must be ${DATATYPE}, got ${preview(datatype)}`);
  }
  if (parameters !== undefined && !isRecord(parameters)) {
    throw bad('bad_request', `input '${name}': parameters must be an object`);
  }
  const binarySize = parameters?.binary_data_size;
  if (binarySize !== undefined && !(Number.isSafeInteger(binarySize) && (binarySize as number) >= 0)) {
    throw bad(
      'bad_binary',
      `input '${name}': binary_data_size must be a byte count, got ${preview(binarySize)}`,
    );
  }
  if ((data === undefined) === (binarySize === undefined)) {
    throw bad('bad_request', `input '${name}' must have either data or parameters.binary_data_size`);
  }
  return { name, shape: parseShape(name, shape), data, binarySize: binarySize as number | undefined };
}

function tensorOf(raw: RawInput, bytes: Uint8Array | undefined): InputTensor {
  const count = raw.shape.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  if (bytes !== undefined) {
    if (bytes.length !== count * FP32_BYTES) {
      throw bad(
        'bad_shape',
        `input '${raw.name}': shape [${raw.shape.join(', ')}] needs ${count * FP32_BYTES} bytes of ${DATATYPE}, binary_data_size is ${bytes.length}`,
      );
    }
    // A copy: the tensor's offset in the body need not be 4-byte aligned. Both ends are little-endian.
    data = new Float32Array(bytes.slice().buffer);
  } else {
    const values = flatten(raw.name, raw.data, raw.shape.length);
    if (values.length !== count) {
      throw bad(
        'bad_shape',
        `input '${raw.name}': shape [${raw.shape.join(', ')}] needs ${count} values, data has ${values.length}`,
      );
    }
    data = Float32Array.from(values);
  }
  return { name: raw.name, shape: raw.shape, data };
}

function parseOutputs(raw: unknown, binaryOutput: boolean): RequestedOutput[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || raw.length === 0) {
    throw bad('bad_request', 'outputs, when given, must be a non-empty list');
  }
  const seen = new Set<string>();
  return raw.map((o, i) => {
    if (!isRecord(o) || typeof o.name !== 'string')
      throw bad('bad_request', `outputs[${i}] must have a name`);
    if (seen.has(o.name)) throw bad('bad_request', `output '${o.name}' is requested twice`);
    seen.add(o.name);
    const parameters = o.parameters ?? {};
    if (!isRecord(parameters)) throw bad('bad_request', `output '${o.name}': parameters must be an object`);
    if (parameters.classification !== undefined) {
      throw bad('bad_parameter', `output '${o.name}': the classification extension is not supported`);
    }
    const binary = parameters.binary_data ?? binaryOutput;
    if (typeof binary !== 'boolean') {
      throw bad('bad_parameter', `output '${o.name}': binary_data must be true or false`);
    }
    return { name: o.name, binary };
  });
}

/**
 * Reads an OIP v2 inference request, JSON or binary, into FP32 tensors.
 * @example
 * const { inputs, outputs } = await readInferRequest(c.req.raw);
 */
export async function readInferRequest(request: Request): Promise<InferRequest> {
  const body = await readBody(request);
  const { json, binary } = splitBody(request, body);
  const parsed = parseJson(json, request.headers.has(HEADER_LENGTH));
  if (!isRecord(parsed)) throw bad('bad_request', 'the inference request must be a JSON object');
  const { id, inputs, outputs, parameters = {} } = parsed;
  if (id !== undefined && typeof id !== 'string') throw bad('bad_request', 'id must be a string');
  if (!isRecord(parameters)) throw bad('bad_request', 'parameters must be an object');
  const { binary_data_output: binaryOutput = false, ...rest } = parameters;
  if (typeof binaryOutput !== 'boolean') {
    throw bad('bad_parameter', 'parameters.binary_data_output must be true or false');
  }
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw bad('bad_request', 'the inference request needs a non-empty list of inputs');
  }
  const raws = inputs.map(parseInput);
  const declared = raws.reduce((sum, r) => sum + (r.binarySize ?? 0), 0);
  if (declared !== binary.length) {
    throw bad(
      'bad_binary',
      declared > binary.length
        ? `the inputs declare ${declared} bytes of binary data but ${binary.length} follow the JSON header${request.headers.has(HEADER_LENGTH) ? '' : ` (no ${HEADER_LENGTH} header)`}`
        : `${binary.length} bytes follow the JSON header but the inputs declare ${declared}`,
    );
  }
  let offset = 0;
  const tensors = raws.map((raw) => {
    if (raw.binarySize === undefined) return tensorOf(raw, undefined);
    const bytes = binary.subarray(offset, offset + raw.binarySize);
    offset += raw.binarySize;
    return tensorOf(raw, bytes);
  });
  return {
    ...(id === undefined ? {} : { id }),
    inputs: tensors,
    outputs: parseOutputs(outputs, binaryOutput),
    binaryOutput,
    parameters: rest,
  };
}

/**
 * The response body and headers: JSON, or (when any output is binary) the JSON header followed by the
 * binary outputs' bytes in order, its length in Inference-Header-Content-Length.
 */
export function encodeInferResponse(response: {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly id?: string;
  /** The response-level `parameters` (this API's extensions, e.g. `in_distribution`). */
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly outputs: readonly OutputTensor[];
}): { body: Uint8Array<ArrayBuffer> | string; headers: Record<string, string> } {
  const outputs = response.outputs.map((o) =>
    o.binary
      ? {
          name: o.name,
          datatype: DATATYPE,
          shape: o.shape,
          parameters: { binary_data_size: o.data.byteLength },
        }
      : { name: o.name, datatype: DATATYPE, shape: o.shape, data: Array.from(o.data) },
  );
  const header = JSON.stringify({
    model_name: response.modelName,
    model_version: response.modelVersion,
    ...(response.id === undefined ? {} : { id: response.id }),
    ...(response.parameters === undefined ? {} : { parameters: response.parameters }),
    outputs,
  });
  const binaries = response.outputs.filter((o) => o.binary);
  if (binaries.length === 0) return { body: header, headers: { 'Content-Type': 'application/json' } };
  const json = new TextEncoder().encode(header);
  const body = new Uint8Array(json.length + binaries.reduce((n, o) => n + o.data.byteLength, 0));
  body.set(json, 0);
  let offset = json.length;
  for (const o of binaries) {
    body.set(new Uint8Array(o.data.buffer, o.data.byteOffset, o.data.byteLength), offset);
    offset += o.data.byteLength;
  }
  return {
    body,
    headers: { 'Content-Type': 'application/octet-stream', [HEADER_LENGTH]: String(json.length) },
  };
}
