/**
 * @module
 * A simulated edge for the SDK's Node tests (msw): the manifest, blob (with Range), ready and infer
 * routes serving real model folders from models/, and a hook through which each test injects its fault.
 * network.test.ts and faults.test.ts both run against it, so a change in the edge's wire behaviour is
 * made once.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Manifest, N_SITES, N_STEPS, parseManifest } from '@ecg-tmp/core';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';

export const EDGE = 'https://edge.test';
const ROOT = join(import.meta.dirname, '../../..');

export type Kind = 'manifest' | 'blob' | 'ready' | 'infer';
/** A test's fault: a Response replaces the normal answer, undefined lets the request through. */
export type Fault = (request: Request, kind: Kind) => Response | undefined | Promise<Response | undefined>;

export interface FakeEdge {
  /** Loaded manifests by model name. */
  readonly manifests: Map<string, Manifest>;
  /** Loaded files by sha256. */
  readonly blobs: Map<string, Uint8Array>;
  /** Requests seen, as "manifest NAME/VERSION", "blob SHA256[ RANGE]", "ready NAME" or "infer". */
  seen: string[];
  /** The batch size of each infer request that reached the model, in order. */
  batches: number[];
  /** The edge's INFER_MAX_BATCH: larger batches get its 413 `batch_too_large`. Default 8, as wrangler's. */
  maxBatch: number;
  fault: Fault | undefined;
  /** Loads models/NAME/VERSION for each entry and starts intercepting. */
  listen(models: Record<string, string>): Promise<void>;
  /** Clears the fault, the seen requests and batches, and restores maxBatch (after each test). */
  reset(): void;
  close(): void;
}

/** The edge's 404: `what` does not exist. */
export const notFound = (what: string) =>
  HttpResponse.json({ error: { code: 'not_found', message: `${what} does not exist` } }, { status: 404 });

/** The edge's INFER_MAX_BATCH in its wrangler config. */
export const EDGE_MAX_BATCH = 8;

/**
 * The infer answer: a recognisable TMP (value = index within the request, negated for Exp II) in the
 * binary tensor extension, after checking that the request's binary part is as long as its header says
 * and that its batch is within `maxBatch` (else the real edge's 413 and words).
 */
async function infer(request: Request, edge: FakeEdge): Promise<Response> {
  const headerLength = Number(request.headers.get('inference-header-content-length'));
  const body = new Uint8Array(await request.arrayBuffer());
  const header = JSON.parse(new TextDecoder().decode(body.subarray(0, headerLength))) as {
    inputs: { shape: number[]; parameters: { binary_data_size: number } }[];
    parameters?: { limited_time?: boolean };
  };
  const input = header.inputs[0]!;
  if (body.length - headerLength !== input.parameters.binary_data_size)
    return HttpResponse.json(
      { error: { code: 'bad_request', message: 'binary part does not match binary_data_size' } },
      { status: 400 },
    );
  const b = input.shape[0]!;
  if (b > edge.maxBatch)
    return HttpResponse.json(
      {
        error: {
          code: 'batch_too_large',
          message: `input 'ecg' has batch size ${b}; this server takes at most ${edge.maxBatch} per request`,
        },
      },
      { status: 413 },
    );
  edge.batches.push(b);
  const limited = header.parameters?.limited_time === true;
  const out = new Float32Array(b * N_SITES * N_STEPS).map((_, i) => (limited ? -i : i));
  const json = new TextEncoder().encode(
    JSON.stringify({
      outputs: [
        {
          name: 'tmp',
          datatype: 'FP32',
          shape: [b, 75, 500],
          parameters: { binary_data_size: out.byteLength },
        },
      ],
    }),
  );
  const reply = new Uint8Array(json.length + out.byteLength);
  reply.set(json);
  reply.set(new Uint8Array(out.buffer), json.length);
  return new HttpResponse(reply, {
    headers: {
      'Inference-Header-Content-Length': String(json.length),
      'Content-Type': 'application/octet-stream',
    },
  });
}

/**
 * @example
 * const edge = fakeEdge();
 * beforeAll(() => edge.listen({ 'cnn-lstm': '0.1.0' }));
 * afterEach(() => edge.reset());
 * afterAll(() => edge.close());
 */
export function fakeEdge(): FakeEdge {
  const edge: FakeEdge = {
    manifests: new Map(),
    blobs: new Map(),
    seen: [],
    batches: [],
    maxBatch: EDGE_MAX_BATCH,
    fault: undefined,
    async listen(models) {
      for (const [name, version] of Object.entries(models)) {
        const dir = join(ROOT, 'models', name, version);
        const m = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
        edge.manifests.set(name, m);
        for (const f of m.files) edge.blobs.set(f.sha256, new Uint8Array(await readFile(join(dir, f.path))));
      }
      server.listen({ onUnhandledRequest: 'error' });
    },
    reset() {
      edge.fault = undefined;
      edge.seen = [];
      edge.batches = [];
      edge.maxBatch = EDGE_MAX_BATCH;
    },
    close() {
      server.close();
    },
  };
  const server = setupServer(
    http.get(`${EDGE}/v1/models/:name/versions/:version`, async ({ request, params }) => {
      edge.seen.push(`manifest ${params.name}/${params.version}`);
      const override = await edge.fault?.(request, 'manifest');
      if (override) return override;
      const m = edge.manifests.get(params.name as string);
      // The real edge's wording.
      if (m === undefined) return notFound(`model '${params.name}'`);
      if (![m.version, 'stable'].includes(params.version as string))
        return notFound(`version ${params.version} of model '${params.name}'`);
      return HttpResponse.json(m);
    }),
    http.get(`${EDGE}/v1/blobs/:sha`, async ({ request, params }) => {
      const range = request.headers.get('range');
      edge.seen.push(`blob ${params.sha}${range ? ` ${range}` : ''}`);
      const override = await edge.fault?.(request, 'blob');
      if (override) return override;
      const bytes = edge.blobs.get(params.sha as string);
      if (bytes === undefined) return notFound(`blob ${params.sha}`);
      const etag = `"${params.sha}"`;
      const from = range === null ? undefined : /^bytes=(\d+)-$/.exec(range)?.[1];
      if (from !== undefined)
        return new HttpResponse(bytes.slice(Number(from)), {
          status: 206,
          headers: { 'Content-Range': `bytes ${from}-${bytes.length - 1}/${bytes.length}`, ETag: etag },
        });
      return new HttpResponse(bytes.slice(), { headers: { ETag: etag } });
    }),
    http.get(`${EDGE}/v2/models/:name/versions/:version/ready`, async ({ request, params }) => {
      edge.seen.push(`ready ${params.name}`);
      return (await edge.fault?.(request, 'ready')) ?? HttpResponse.json({ name: params.name, ready: true });
    }),
    http.post(`${EDGE}/v2/models/:name/versions/:version/infer`, async ({ request }) => {
      edge.seen.push('infer');
      return (await edge.fault?.(request, 'infer')) ?? infer(request, edge);
    }),
  );
  return edge;
}
