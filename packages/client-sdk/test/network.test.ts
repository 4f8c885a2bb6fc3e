/**
 * The SDK against a simulated edge (msw in Node): the real shipped cnn-lstm model served by manifest and
 * blob routes that can fail on demand — progress, caching, integrity, retries, offline, abort, Range
 * resume, the remote fallback and input validation. Reconstructions run for real (ORT wasm in Node).
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { denormaliseVm, type Manifest, N_SITES, N_STEPS, normaliseEcg, parseWfdb } from '@ecg-tmp/core';
import { HttpResponse } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../../trainer/src/export/verify.ts';
import {
  createReconstructor,
  InputShapeError,
  IntegrityError,
  ModelNotFoundError,
  memoryStore,
  NetworkError,
  OptionError,
  type ProgressEvent,
  ReconstructorError,
  reconstructRecording,
} from '../src/index.ts';
import { EDGE, EDGE_MAX_BATCH, fakeEdge } from './fake-edge.ts';

const MODEL_DIR = join(import.meta.dirname, '../../../models/cnn-lstm/0.1.0');
const edge = fakeEdge();
/** The shipped cnn-lstm 0.1.0 the fake edge serves. */
let manifest: Manifest;

/** A deterministic ECG in mV. */
const ecg = new Float32Array(12 * 500).map((_, i) => Math.sin(i * 0.031) * 0.6 + Math.cos(i * 0.0071) * 0.2);
const base = { model: 'cnn-lstm', edgeUrl: EDGE, device: 'wasm' as const, backoffMs: 1 };

beforeAll(async () => {
  await edge.listen({ 'cnn-lstm': '0.1.0' });
  manifest = edge.manifests.get('cnn-lstm')!;
});
afterEach(() => edge.reset());
afterAll(() => edge.close());

const blobRequests = () => edge.seen.filter((s) => s.startsWith('blob'));
const fp32 = () => manifest.files.find((f) => f.dtype === 'fp32')!;

describe('loading from the edge', () => {
  it('reports progress, verifies, caches by digest, and a second load makes no blob request', async () => {
    const store = memoryStore();
    const events: ProgressEvent[] = [];
    const r = await createReconstructor({ ...base, cache: store, onProgress: (e) => events.push(e) });
    expect(r.backend).toBe('wasm');
    expect(r.version).toBe('0.1.0');
    const statuses = [...new Set(events.map((e) => e.status))];
    expect(statuses).toEqual(['initiate', 'download', 'verify', 'ready']);
    const downloads = events.filter((e) => e.status === 'download');
    expect(downloads.at(-1)).toMatchObject({
      loaded: fp32().bytes,
      total: fp32().bytes,
      loadedAll: fp32().bytes,
    });
    expect(events.find((e) => e.status === 'verify')).toMatchObject({ cached: false });
    expect(blobRequests()).toEqual([`blob ${fp32().sha256}`]);
    expect(store.entries.has(`sha256/${fp32().sha256}`)).toBe(true);
    await r.dispose();

    edge.seen = [];
    const again: ProgressEvent[] = [];
    const r2 = await createReconstructor({ ...base, cache: store, onProgress: (e) => again.push(e) });
    expect(blobRequests()).toEqual([]);
    expect(again.find((e) => e.status === 'verify')).toMatchObject({ cached: true });
    await r2.dispose();
  });

  it('reconstructs what the trainer-checked ONNX model gives (ORT wasm in Node), in mV', async () => {
    const r = await createReconstructor({ ...base, cache: memoryStore() });
    const result = await r.reconstruct(ecg);
    expect(result.shape).toEqual([1, 75, 500]);
    expect(result.backend).toBe('wasm');
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.inferMs);
    const { model } = await openModel(MODEL_DIR, 'fp32');
    const reference = denormaliseVm(
      await model.predict(normaliseEcg({ data: ecg, shape: [1, 12, 500] }, 'lead-range').signal),
      'vm-affine',
    );
    let max = 0;
    for (let i = 0; i < reference.data.length; i++)
      max = Math.max(max, Math.abs(reference.data[i]! - result.tmp[i]!));
    expect(max).toBeLessThan(1e-4);
    // A batch of two identical ECGs gives the same TMP twice; stream() yields the one chunk.
    const two = new Float32Array(2 * ecg.length);
    two.set(ecg, 0);
    two.set(ecg, ecg.length);
    const batch = await r.reconstruct(two);
    expect(batch.shape).toEqual([2, 75, 500]);
    expect(batch.tmp.subarray(N_SITES * N_STEPS)).toEqual(result.tmp);
    const chunks = [];
    for await (const s of r.stream(ecg)) chunks.push(s);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.tmp).toEqual(result.tmp);
    await model.release();
    await r.dispose();
    await expect(r.reconstruct(ecg)).rejects.toThrow(/disposed/);
  });

  it('refuses a blob whose bytes do not match the manifest, and does not cache it', async () => {
    const store = memoryStore();
    edge.fault = (_req, kind) => {
      if (kind !== 'blob') return undefined;
      const bad = edge.blobs.get(fp32().sha256)!.slice();
      bad[100] = bad[100]! ^ 0xff;
      return new HttpResponse(bad);
    };
    const err = await createReconstructor({ ...base, cache: store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain(fp32().sha256);
    expect([...store.entries.keys()].filter((k) => k.startsWith('sha256/'))).toEqual([]);
  });

  it('refuses a blob longer than the manifest says', async () => {
    edge.fault = (_req, kind) =>
      kind === 'blob' ? new HttpResponse(new Uint8Array(fp32().bytes + 10)) : undefined;
    await expect(createReconstructor({ ...base, cache: memoryStore() })).rejects.toBeInstanceOf(
      IntegrityError,
    );
  });

  it('names an unknown model with ModelNotFoundError and the server message, without retrying', async () => {
    const err = await createReconstructor({ ...base, model: 'nope', cache: memoryStore() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelNotFoundError);
    expect((err as Error).message).toMatch(/model 'nope' does not exist/);
    expect(edge.seen).toHaveLength(1);
  });
});

describe('network faults', () => {
  it('retries 5xx bursts with backoff and then succeeds', async () => {
    let failures = 0;
    edge.fault = () =>
      failures++ < 3
        ? HttpResponse.json({ error: { code: 'internal', message: 'boom' } }, { status: 503 })
        : undefined;
    const r = await createReconstructor({ ...base, cache: memoryStore() });
    expect(edge.seen.filter((s) => s.startsWith('manifest'))).toHaveLength(4);
    await r.dispose();
  });

  it('gives up with a NetworkError after its retries', async () => {
    edge.fault = (_req, kind) =>
      kind === 'manifest' ? new HttpResponse('down', { status: 502 }) : undefined;
    const err = await createReconstructor({ ...base, cache: memoryStore(), retries: 2 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/after 3 attempts/);
    expect(edge.seen).toHaveLength(3);
  });

  it("names a proxy's own error page (not the edge's JSON) in the error, cut to 200 characters", async () => {
    const page = `<html><body>Blocked by the corporate proxy. ${'x'.repeat(400)}</body></html>`;
    edge.fault = (_req, kind) =>
      kind === 'manifest'
        ? new HttpResponse(page, { status: 403, headers: { 'Content-Type': 'text/html' } })
        : undefined;
    const err = await createReconstructor({ ...base, cache: memoryStore() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).status).toBe(403);
    expect((err as Error).message).toContain('answered 403 <html><body>Blocked by the corporate proxy.');
    expect((err as Error).message).not.toContain('x'.repeat(200));
    expect((err as Error).message).toMatch(/…$/);
    expect(edge.seen).toHaveLength(1);
  });

  it('retries a response slower than timeoutMs', async () => {
    let slow = true;
    edge.fault = async (_req, kind) => {
      if (kind !== 'manifest' || !slow) return undefined;
      slow = false;
      await new Promise((r) => setTimeout(r, 500));
      return HttpResponse.json(manifest);
    };
    const t0 = performance.now();
    const r = await createReconstructor({ ...base, cache: memoryStore(), timeoutMs: 100 });
    expect(edge.seen.filter((s) => s.startsWith('manifest'))).toHaveLength(2);
    expect(performance.now() - t0).toBeLessThan(2000);
    await r.dispose();
  });

  it('resumes a download cut off mid-body with a Range request', async () => {
    const full = edge.blobs.get(fp32().sha256)!;
    const cut = 300_000;
    let first = true;
    edge.fault = (req, kind) => {
      if (kind !== 'blob' || !first) return undefined;
      first = false;
      expect(req.headers.get('range')).toBeNull();
      // Sends `cut` bytes, then the connection resets.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(full.slice(0, cut));
          setTimeout(() => controller.error(new TypeError('connection reset')), 10);
        },
      });
      return new HttpResponse(stream, { headers: { 'Content-Length': String(full.length) } });
    };
    const events: ProgressEvent[] = [];
    const r = await createReconstructor({ ...base, cache: memoryStore(), onProgress: (e) => events.push(e) });
    expect(blobRequests()).toEqual([`blob ${fp32().sha256}`, `blob ${fp32().sha256} bytes=${cut}-`]);
    const loaded = events.flatMap((e) => (e.status === 'download' ? [e.loaded] : []));
    // Progress never went backwards across the resume.
    expect(loaded).toEqual([...loaded].sort((a, b) => a - b));
    expect((await r.reconstruct(ecg)).tmp.length).toBe(N_SITES * N_STEPS);
    await r.dispose();
  });

  it('works offline from the cache once loaded', async () => {
    const store = memoryStore();
    (await createReconstructor({ ...base, cache: store })).dispose();
    edge.fault = () => HttpResponse.error();
    edge.seen = [];
    const offline = await createReconstructor({ ...base, cache: store, retries: 1 });
    expect(offline.version).toBe('0.1.0');
    expect((await offline.reconstruct(ecg)).tmp.length).toBe(N_SITES * N_STEPS);
    expect(blobRequests()).toEqual([]);
    await offline.dispose();
    // Without a cache, offline is a NetworkError that says so.
    const err = await createReconstructor({ ...base, cache: memoryStore(), retries: 1 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NetworkError);
  });

  it('stops cleanly when its signal aborts mid-download', async () => {
    const controller = new AbortController();
    edge.fault = (_req, kind) => {
      if (kind !== 'blob') return undefined;
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array(1000));
          setTimeout(() => controller.abort(new DOMException('the user left', 'AbortError')), 20);
        },
      });
      return new HttpResponse(stream);
    };
    const err = await createReconstructor({ ...base, cache: memoryStore(), signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe('AbortError');
    expect(blobRequests()).toHaveLength(1);
  });
});

describe('the remote backend', () => {
  it('sends the ECG to the edge with the binary tensor extension and returns its TMP', async () => {
    const r = await createReconstructor({ ...base, device: 'remote', cache: memoryStore() });
    expect(r.backend).toBe('remote');
    expect(blobRequests()).toEqual([]);
    const full = await r.reconstruct(ecg);
    expect(full.tmp[10]).toBe(10);
    const limited = await r.reconstruct(ecg, { limitedTime: true });
    expect(limited.tmp[10]).toBe(-10);
    edge.fault = (_req, kind) =>
      kind === 'infer'
        ? HttpResponse.json(
            { error: { code: 'bad_shape', message: 'shape [1, 12, 7] is wrong' } },
            { status: 400 },
          )
        : undefined;
    await expect(r.reconstruct(ecg)).rejects.toThrow(InputShapeError);
  });
});

describe('remote batches', () => {
  /** `n` distinct ECGs, one after another. */
  const batchOf = (n: number) => {
    const out = new Float32Array(n * ecg.length);
    for (let i = 0; i < n; i++) out.set(ecg, i * ecg.length);
    return out;
  };
  /** Byte-for-byte equality (vitest's deep equality is slow on arrays of 10⁵–10⁶ values). */
  const same = (a: Float32Array, b: Float32Array) =>
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    );
  /** What the fake edge answers for ECG `i` of a request: tmp[i * 75 * 500 + k] = i * 75 * 500 + k. */
  const expectedFor = (sizes: readonly number[]) => {
    const out = new Float32Array(sizes.reduce((a, b) => a + b, 0) * N_SITES * N_STEPS);
    let at = 0;
    for (const n of sizes) {
      for (let k = 0; k < n * N_SITES * N_STEPS; k++) out[at + k] = k;
      at += n * N_SITES * N_STEPS;
    }
    return out;
  };

  it(`splits a batch larger than the edge's ${EDGE_MAX_BATCH} into requests of at most ${EDGE_MAX_BATCH}, in order`, async () => {
    const r = await createReconstructor({ ...base, device: 'remote', cache: memoryStore() });
    const result = await r.reconstruct(batchOf(19));
    expect(edge.batches).toEqual([8, 8, 3]);
    expect(result.shape).toEqual([19, N_SITES, N_STEPS]);
    expect(same(result.tmp, expectedFor([8, 8, 3]))).toBe(true);
    expect(same(result.tmp, expectedFor([19]))).toBe(false);
    expect(result.inDistribution).toHaveLength(19);
    // Nothing was refused on the way: every request within the edge's limit.
    expect(edge.seen.filter((s) => s === 'infer')).toHaveLength(3);
  });

  it('believes an edge that takes fewer: split again by the N its 413 names, and N from then on', async () => {
    edge.maxBatch = 3;
    const r = await createReconstructor({ ...base, device: 'remote', cache: memoryStore() });
    const result = await r.reconstruct(batchOf(9));
    // 8 refused (413 batch_too_large, "at most 3"), then 3 + 3 + 3.
    expect(edge.seen.filter((s) => s === 'infer')).toHaveLength(4);
    expect(edge.batches).toEqual([3, 3, 3]);
    expect(same(result.tmp, expectedFor([3, 3, 3]))).toBe(true);
    edge.seen = [];
    edge.batches = [];
    await r.reconstruct(batchOf(7));
    expect(edge.batches).toEqual([3, 3, 1]);
    expect(edge.seen.filter((s) => s === 'infer')).toHaveLength(3);
  });

  it('reports a 413 that names no smaller limit as an InputShapeError, not a retry loop', async () => {
    edge.fault = (_req, kind) =>
      kind === 'infer'
        ? HttpResponse.json(
            { error: { code: 'batch_too_large', message: 'this server takes at most 8 per request' } },
            { status: 413 },
          )
        : undefined;
    const r = await createReconstructor({ ...base, device: 'remote', cache: memoryStore() });
    const err = await r.reconstruct(batchOf(2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputShapeError);
    expect((err as Error).message).toMatch(/refused a batch of 2 ECGs/);
    expect(edge.seen.filter((s) => s === 'infer')).toHaveLength(1);
  });
});

describe('a recording through the edge', () => {
  it('is one infer request per beat: the edge route stays one window per request', async () => {
    const real = join(import.meta.dirname, '../../simulator/assets/real-ecg');
    const recording = parseWfdb(
      await readFile(join(real, 's0010_re.hea')),
      { 's0010_re.dat': await readFile(join(real, 's0010_re.dat')) },
      's0010_re.hea',
    );
    const r = await createReconstructor({ ...base, device: 'remote', cache: memoryStore() });
    let beats = 0;
    for await (const e of reconstructRecording(recording, { reconstructor: r })) {
      if (e.status !== 'beat') continue;
      beats++;
      expect(e.backend).toBe('remote');
      // The fake edge's answer (tmp[i] = i for a full-time request).
      expect(e.tmp[10]).toBe(10);
      expect(edge.seen.filter((s) => s === 'infer')).toHaveLength(beats);
    }
    expect(beats).toBe(13);
  });
});

describe('input validation', () => {
  it('names what is wrong with an ECG', async () => {
    const r = await createReconstructor({ ...base, cache: memoryStore() });
    const nan = ecg.slice();
    nan[503] = Number.NaN;
    const cases: [unknown, RegExp][] = [
      [new Float32Array(100), /12×500 = 6000 values per ECG \(lead-major\); got 100/],
      [nan, /non-finite value \(NaN\) at ECG 0, lead 1, step 3/],
      [[[1, 2, 3]], /must have 12 leads/],
      [Array.from({ length: 12 }, () => new Array(499).fill(0)), /lead 0 must have 500 samples/],
      ['ecg', /Float32Array/],
    ];
    for (const [input, message] of cases) {
      const err = await r.reconstruct(input as Float32Array).catch((e: unknown) => e);
      expect(err, String(message)).toBeInstanceOf(InputShapeError);
      expect((err as Error).message).toMatch(message);
    }
    const nested = Array.from({ length: 12 }, (_, l) => Array.from(ecg.subarray(l * 500, (l + 1) * 500)));
    expect((await r.reconstruct(nested)).tmp).toEqual((await r.reconstruct(ecg)).tmp);
    await r.dispose();
  });

  it('lists the valid devices when given another, as a typed OptionError', async () => {
    const cases: [unknown, RegExp][] = [
      ['tpu', /^Unsupported device 'tpu'\. Expected one of: auto, webgpu, wasm, remote, or a list/],
      [
        ['wasm', 'tpu'],
        /^Unsupported device 'tpu' in the device list\. Expected backends from: webgpu, wasm, remote/,
      ],
      [['auto'], /^Unsupported device 'auto' in the device list/],
      [[], /^device: an empty list/],
      [['wasm', 'wasm'], /^device: 'wasm' appears twice/],
    ];
    for (const [device, message] of cases) {
      const err = await createReconstructor({ ...base, device: device as never, cache: memoryStore() }).catch(
        (e: unknown) => e,
      );
      expect(err, String(device)).toBeInstanceOf(OptionError);
      expect(err).toBeInstanceOf(ReconstructorError);
      expect((err as Error).message).toMatch(message);
    }
    // Refused before anything is fetched.
    expect(edge.seen).toEqual([]);
    const noSource = await createReconstructor({ model: 'cnn' }).catch((e: unknown) => e);
    expect(noSource).toBeInstanceOf(OptionError);
  });

  it('takes an ordered list of backends: the first that runs, and why the earlier ones did not', async () => {
    // Node has no WebGPU: ['webgpu', 'wasm'] runs on WASM and says why not WebGPU.
    const gpuFirst = await createReconstructor({ ...base, device: ['webgpu', 'wasm'], cache: memoryStore() });
    expect(gpuFirst.backend).toBe('wasm');
    expect(gpuFirst.fallbackReason).toMatch(/^webgpu: this browser has no navigator\.gpu/);
    await gpuFirst.dispose();
    edge.seen = [];
    // The app's order, not the SDK's: remote before WASM downloads no weights.
    const remoteFirst = await createReconstructor({
      ...base,
      device: ['remote', 'wasm'],
      cache: memoryStore(),
    });
    expect(remoteFirst.backend).toBe('remote');
    expect(remoteFirst.fallbackReason).toBeUndefined();
    expect(blobRequests()).toEqual([]);
    // ['wasm', 'remote'] with blobs that will not download: the edge's API, as 'auto' would.
    edge.fault = (_req, kind) => (kind === 'blob' ? new HttpResponse(null, { status: 503 }) : undefined);
    const wasmFirst = await createReconstructor({
      ...base,
      retries: 1,
      device: ['wasm', 'remote'],
      cache: memoryStore(),
    });
    expect(wasmFirst.backend).toBe('remote');
    expect(wasmFirst.fallbackReason).toMatch(/^wasm: the weights could not be downloaded/);
    expect((await wasmFirst.reconstruct(ecg)).tmp[10]).toBe(10);
  });
});
