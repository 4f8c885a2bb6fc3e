/**
 * @module
 * Reconstruction on the edge's CPU: the Open Inference Protocol v2 `infer` endpoint with the binary
 * tensor extension (raw float32 both ways instead of JSON numbers). Takes and returns millivolts; the
 * edge normalises with the same @ecg-tmp/core code.
 *
 * The edge takes at most INFER_MAX_BATCH ECGs a request (8 in its wrangler config) and does not say so
 * in its model metadata; it says so only in the 413 it answers a larger batch with
 * (`batch_too_large`: "… takes at most N per request"). So a batch is sent in requests of at most
 * DEFAULT_REMOTE_BATCH, and an edge configured lower is believed from that answer: the batch is split
 * again by its N, and later calls use N from the start.
 */

import { N_SITES, N_STEPS, type Signal } from '@ecg-tmp/core';
import { BackendUnavailableError, InputShapeError, ModelNotFoundError, NetworkError } from '../errors.ts';
import { attemptSignal, type FetchContext, fetchJson, pauseBeforeRetry, serverError } from '../hub/fetch.ts';

export interface RemoteEngine {
  readonly device: 'remote';
  /** ECGs per infer request now: DEFAULT_REMOTE_BATCH until the edge says it takes fewer. */
  readonly maxBatch: number;
  /** `signal` cancels this call (its request and any wait between retries). */
  run(ecgMv: Signal, limitedTime: boolean, signal?: AbortSignal): Promise<Signal>;
}

/**
 * Asks the edge whether it can run the version (`GET …/ready`, with the usual retries): used when the
 * remote backend is reached because the weights could not be downloaded, so that an unreachable edge
 * fails createReconstructor() rather than every reconstruct() after it.
 */
export async function probeRemote(edgeUrl: string, model: string, version: string, ctx: FetchContext) {
  try {
    await fetchJson(
      `${edgeUrl.replace(/\/+$/, '')}/v2/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}/ready`,
      ctx,
      `the edge's fallback API for '${model}' ${version}`,
    );
  } catch (err) {
    if (err instanceof ModelNotFoundError && err.server?.code === NO_ROUTE)
      throw noInference(edgeUrl, err.server.message);
    throw err;
  }
}

/**
 * The error code of the edge's answer to a path it has no route for (both Workers' notFound handlers).
 * Under /v2 it means a registry deployed without the inference Worker on its origin — not a missing
 * model, which /v2 reports as 404 `not_found`.
 */
const NO_ROUTE = 'no_route';

function noInference(edgeUrl: string, said: string): BackendUnavailableError {
  return new BackendUnavailableError(
    `the edge at ${edgeUrl} has no inference API (/v2 answered 404, "${said}"): it runs the model registry alone. ` +
      `Deploy the inference Worker on the same origin (docs/deploy.md), or run the model on this device (device 'wasm' or 'webgpu')`,
  );
}

/** ECGs per infer request until the edge says otherwise: the edge's own INFER_MAX_BATCH default. */
export const DEFAULT_REMOTE_BATCH = 8;

/** The edge refused a batch as too large and said how many it takes. */
class BatchTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the edge takes at most ${limit} ECGs a request`);
  }
}

export function createRemoteEngine(
  edgeUrl: string,
  model: string,
  version: string,
  ctx: FetchContext,
): RemoteEngine {
  const url = `${edgeUrl.replace(/\/+$/, '')}/v2/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}/infer`;
  /** ECGs per request: DEFAULT_REMOTE_BATCH, or what the edge said it takes. */
  let limit = DEFAULT_REMOTE_BATCH;
  return {
    device: 'remote',
    get maxBatch() {
      return limit;
    },
    async run(ecg, limitedTime, signal) {
      const [b, c, t] = ecg.shape;
      const per = c * t;
      const out = new Float32Array(b * N_SITES * N_STEPS);
      for (let from = 0; from < b; ) {
        const n = Math.min(limit, b - from);
        const part: Signal = { data: ecg.data.subarray(from * per, (from + n) * per), shape: [n, c, t] };
        try {
          out.set((await request(part, limitedTime, signal)).data, from * N_SITES * N_STEPS);
          from += n;
        } catch (err) {
          // Believe the edge's own figure, once it is smaller than what was sent; else it is an input error.
          if (!(err instanceof BatchTooLarge)) throw err;
          if (!(err.limit >= 1 && err.limit < n))
            throw new InputShapeError(`the edge refused a batch of ${n} ECGs: ${err.message}`);
          limit = err.limit;
        }
      }
      return { data: out, shape: [b, N_SITES, N_STEPS] };
    },
  };

  /** One infer request for the whole of `ecg`. */
  async function request(ecg: Signal, limitedTime: boolean, signal?: AbortSignal): Promise<Signal> {
    // The load's signal (ctx.signal) only cancels loading; a call is cancelled by its own.
    const call: FetchContext = { ...ctx, ...(signal === undefined ? {} : { signal }) };
    const [b, c, t] = ecg.shape;
    const header = new TextEncoder().encode(
      JSON.stringify({
        inputs: [
          {
            name: 'ecg',
            shape: [b, c, t],
            datatype: 'FP32',
            parameters: { binary_data_size: ecg.data.byteLength },
          },
        ],
        outputs: [{ name: 'tmp', parameters: { binary_data: true } }],
        parameters: { limited_time: limitedTime },
      }),
    );
    const body = new Uint8Array(header.length + ecg.data.byteLength);
    body.set(header, 0);
    body.set(new Uint8Array(ecg.data.buffer, ecg.data.byteOffset, ecg.data.byteLength), header.length);
    const retries = ctx.retries ?? 4;
    let lastError: unknown;
    let retryAfter: number | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await pauseBeforeRetry(call, url, attempt, lastError, retryAfter);
      retryAfter = undefined;
      signal?.throwIfAborted();
      let res: Response;
      try {
        res = await ctx.fetch(url, {
          method: 'POST',
          body,
          signal: attemptSignal(call),
          headers: {
            'Content-Type': 'application/octet-stream',
            'Inference-Header-Content-Length': String(header.length),
          },
        });
      } catch (err) {
        signal?.throwIfAborted();
        lastError = err;
        continue;
      }
      if (res.ok) {
        try {
          return await decodeResponse(res, b);
        } catch (err) {
          signal?.throwIfAborted();
          if (err instanceof NetworkError) throw err;
          lastError = err; // the body was cut off: ask again
          continue;
        }
      }
      const { code, message } = await serverError(res);
      const most = /at most (\d+)/.exec(message);
      if (res.status === 413 && code === 'batch_too_large' && most !== null)
        throw new BatchTooLarge(Number(most[1]));
      if (res.status === 404 && code === NO_ROUTE) throw noInference(edgeUrl, message);
      if (res.status === 404)
        throw new ModelNotFoundError(
          `the edge has no model '${model}' version '${version}' to run (${message})`,
        );
      if (res.status === 400 || res.status === 413 || res.status === 422)
        throw new InputShapeError(`the edge refused the ECG: ${message}`);
      lastError = new NetworkError(`${url} answered ${res.status}: ${message}`, res.status);
      if (res.status < 500 && res.status !== 429 && res.status !== 408) throw lastError;
      const seconds = Number(res.headers.get('retry-after') ?? Number.NaN);
      if (Number.isFinite(seconds)) retryAfter = Math.min(seconds * 1000, 30_000);
    }
    throw new NetworkError(
      `the edge's fallback API at ${url} failed after ${retries + 1} attempts; check the connection and try again`,
      lastError instanceof NetworkError ? lastError.status : undefined,
      { cause: lastError },
    );
  }
}

async function decodeResponse(res: Response, batch: number): Promise<Signal> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  const headerLength = Number(res.headers.get('inference-header-content-length') ?? Number.NaN);
  const expected = batch * N_SITES * N_STEPS;
  if (Number.isFinite(headerLength)) {
    const raw = bytes.slice(headerLength);
    if (raw.byteLength !== expected * 4)
      throw new NetworkError(`the edge sent ${raw.byteLength} tensor bytes, expected ${expected * 4}`);
    return { data: new Float32Array(raw.buffer), shape: [batch, N_SITES, N_STEPS] };
  }
  // A server that ignored the binary request answers in JSON.
  const json = JSON.parse(new TextDecoder().decode(bytes)) as {
    outputs?: { name: string; data: number[] }[];
  };
  const data = json.outputs?.find((o) => o.name === 'tmp')?.data;
  if (data === undefined || data.length !== expected)
    throw new NetworkError('the edge sent no tmp output of the expected size');
  return {
    data: Float32Array.from(data.flat(Number.POSITIVE_INFINITY) as number[]),
    shape: [batch, N_SITES, N_STEPS],
  };
}
