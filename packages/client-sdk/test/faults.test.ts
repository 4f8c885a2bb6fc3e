/**
 * Issue 10's faults and bad input for the SDK, in Node against a simulated edge (msw): the shipped
 * cnn-lstm and Transformer served by manifest, blob, ready and infer routes into which each test injects
 * faults — connection resets mid-body, 5xx bursts, stalls longer than the attempt timeout, the network
 * gone — and bad data: a manifest whose hash is wrong for its blob or that fails the schema, blobs longer
 * or shorter than the manifest says, ECGs with the wrong shape or non-finite values. Each test counts
 * what it injected and reports it (test/reliability.ts). Reconstructions run for real (ORT wasm).
 */

import { N_SITES, N_STEPS } from '@ecg-tmp/core';
import { HttpResponse } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import aliases from '../../../models/aliases.json' with { type: 'json' };
import { reportFigure } from '../../../test/reliability.ts';
import {
  BackendUnavailableError,
  createReconstructor,
  InputShapeError,
  IntegrityError,
  ManifestError,
  ModelNotFoundError,
  memoryStore,
  NetworkError,
  type ProgressEvent,
  ReconstructorError,
} from '../src/index.ts';
import { EDGE, fakeEdge, notFound } from './fake-edge.ts';

const MODELS = { 'cnn-lstm': aliases['cnn-lstm'].stable, transformer: aliases.transformer.stable };
/** The stable cnn-lstm version as it appears in messages, escaped for a RegExp. */
const LSTM_VERSION = MODELS['cnn-lstm'].replaceAll('.', '\\.');
type Model = keyof typeof MODELS;
const edge = fakeEdge();

/** Unhandled rejections anywhere in this file fail the last test (an abort must leave none behind). */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  await edge.listen(MODELS);
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  edge.reset();
  vi.restoreAllMocks();
});
afterAll(() => {
  edge.close();
  process.off('unhandledRejection', onUnhandled);
});

const ecg = new Float32Array(12 * 500).map((_, i) => Math.sin(i * 0.029) * 0.5 + Math.cos(i * 0.004) * 0.3);
const base = { model: 'cnn-lstm', edgeUrl: EDGE, device: 'wasm' as const, backoffMs: 1 };
const fp32 = (model: Model = 'cnn-lstm') =>
  edge.manifests.get(model)!.files.filter((f) => f.dtype === 'fp32');
const blobRequests = () => edge.seen.filter((s) => s.startsWith('blob'));
const failWith = (status: number, headers: Record<string, string> = {}) =>
  HttpResponse.json({ error: { code: 'unavailable', message: `injected ${status}` } }, { status, headers });
const weights = (store: ReturnType<typeof memoryStore>) =>
  [...store.entries.keys()].filter((k) => k.startsWith('sha256/'));
/** `response`, after `count()` (which tallies an injected fault). */
const counted = <T>(count: () => unknown, response: T): T => {
  count();
  return response;
};
const abortError = () => new DOMException('the user left', 'AbortError');

/** The fault-free cnn-lstm output, to compare faulted loads against. */
let clean: Float32Array;
beforeAll(async () => {
  const r = await createReconstructor({ ...base, cache: 'none' });
  clean = (await r.reconstruct(ecg)).tmp;
  await r.dispose();
});

describe('retries', () => {
  it('5xx bursts: exponential backoff with full jitter, each wait in [0, min(8, 2^n) × backoffMs]', async ({
    task,
  }) => {
    let injected = 0;
    let failures = 0;
    // A fixed draw (msw draws too, so not a sequence), to check the formula exactly.
    vi.spyOn(Math, 'random').mockReturnValue(0.75);
    edge.fault = (_req, kind) =>
      kind === 'manifest' && injected < 5 ? counted(() => injected++, failWith(503)) : undefined;
    const retries: Extract<ProgressEvent, { status: 'retry' }>[] = [];
    const r = await createReconstructor({
      ...base,
      backoffMs: 4,
      retries: 5,
      cache: memoryStore(),
      onProgress: (e) => e.status === 'retry' && retries.push(e),
    });
    expect(retries.map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5]);
    const caps = [8, 16, 32, 32, 32]; // 4 × 2^n ms, capped at 8 × 4
    expect(retries.map((e) => e.delayMs)).toEqual(caps.map((cap) => 0.75 * cap));
    expect(retries[0]!.reason).toMatch(/answered 503/);
    await r.dispose();
    vi.restoreAllMocks();

    // With the real Math.random: 40 bursts of 3, every wait bounded, and the waits spread out. The
    // remote device keeps each load to the manifest (no ORT session), so the loop stays cheap.
    const waits: number[][] = [[], [], []];
    for (let run = 0; run < 40; run++) {
      let left = 3;
      edge.fault = (_req, kind) =>
        kind === 'manifest' && left-- > 0 ? counted(() => injected++, failWith(502)) : undefined;
      const again = await createReconstructor({
        ...base,
        device: 'remote',
        backoffMs: 2,
        cache: memoryStore(),
        onProgress: (e) => {
          if (e.status !== 'retry') return;
          waits[e.attempt - 1]!.push(e.delayMs);
          if (e.delayMs < 0 || e.delayMs > Math.min(16, 2 * 2 ** e.attempt)) failures++;
        },
      });
      if (again.version !== MODELS['cnn-lstm']) failures++;
      await again.dispose();
    }
    for (const [i, w] of waits.entries()) {
      expect(w).toHaveLength(40);
      expect(new Set(w).size).toBeGreaterThan(35); // jittered: not one fixed delay per attempt
      const cap = 2 * 2 ** (i + 1);
      expect(Math.max(...w)).toBeLessThanOrEqual(cap);
      expect(Math.min(...w)).toBeLessThan(cap / 2); // full jitter reaches down towards 0
    }
    reportFigure(task, {
      area: 'faults',
      what: 'SDK: 5xx bursts on the manifest',
      count: injected,
      unit: 'injected 5xx',
      failures,
    });
    expect(failures).toBe(0);
  });

  it('a Retry-After longer than the backoff is the least it waits; 429 is retried', async () => {
    let left = 1;
    edge.fault = (_req, kind) =>
      kind === 'manifest' && left-- > 0 ? failWith(429, { 'Retry-After': '0.2' }) : undefined;
    const retries: number[] = [];
    const t0 = performance.now();
    const r = await createReconstructor({
      ...base,
      cache: memoryStore(),
      onProgress: (e) => e.status === 'retry' && retries.push(e.delayMs),
    });
    expect(retries).toEqual([200]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(195);
    await r.dispose();
  });

  it('gives up with a NetworkError that carries the last status and says what to do', async () => {
    edge.fault = (_req, kind) => (kind === 'manifest' ? failWith(500) : undefined);
    const err = await createReconstructor({ ...base, retries: 2, cache: memoryStore() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).status).toBe(500);
    expect((err as Error).message).toMatch(/after 3 attempts; check the connection and edgeUrl/);
  });
});

describe('downloads cut off', () => {
  /** A body that sends `bytes` and then errors as a reset connection does. */
  const resetAfter = (bytes: Uint8Array) =>
    new HttpResponse(
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes);
          setTimeout(() => c.error(new TypeError('socket hang up (injected reset)')), 5);
        },
      }),
    );

  it('resets mid-body at random points: each retry asks for exactly the missing bytes, and the result verifies', async ({
    task,
  }) => {
    const file = fp32()[0]!;
    const full = edge.blobs.get(file.sha256)!;
    let injected = 0;
    let failures = 0;
    for (let run = 0; run < 12; run++) {
      // Three resets per load at increasing offsets; the server then answers what is asked.
      const cuts = [0.1, 0.4, 0.8].map((f) => Math.floor(full.length * (f + Math.random() * 0.1)));
      let served = 0;
      const ranges: (string | null)[] = [];
      edge.fault = (req, kind) => {
        if (kind !== 'blob') return undefined;
        ranges.push(req.headers.get('range'));
        const from = Number(/^bytes=(\d+)-$/.exec(req.headers.get('range') ?? '')?.[1] ?? 0);
        if (served >= cuts.length) return undefined;
        injected++;
        return from === 0
          ? resetAfter(full.slice(0, cuts[served++]))
          : new HttpResponse(
              new ReadableStream<Uint8Array>({
                start(c) {
                  c.enqueue(full.slice(from, cuts[served++]));
                  setTimeout(() => c.error(new TypeError('socket hang up (injected reset)')), 5);
                },
              }),
              {
                status: 206,
                headers: { 'Content-Range': `bytes ${from}-${full.length - 1}/${full.length}` },
              },
            );
      };
      const store = memoryStore();
      const loaded: number[] = [];
      const r = await createReconstructor({
        ...base,
        cache: store,
        onProgress: (e) => e.status === 'download' && loaded.push(e.loaded),
      });
      const ok =
        JSON.stringify(ranges) === JSON.stringify([null, ...cuts.map((c) => `bytes=${c}-`)]) &&
        loaded.every((n, i) => i === 0 || n >= loaded[i - 1]!) &&
        weights(store).length === 1 &&
        (await r.reconstruct(ecg)).tmp.every((v, i) => v === clean[i]);
      if (!ok) failures++;
      await r.dispose();
    }
    reportFigure(task, {
      area: 'faults',
      what: 'SDK: connection reset mid-download (resumed with Range)',
      count: injected,
      unit: 'resets',
      failures,
    });
    expect(failures).toBe(0);
  });

  it('a download stalled past timeoutMs is cut off and resumed from where it stopped', async ({ task }) => {
    const file = fp32()[0]!;
    const full = edge.blobs.get(file.sha256)!;
    const half = Math.floor(full.length / 2);
    let stalls = 0;
    edge.fault = (req, kind) => {
      if (kind !== 'blob' || req.headers.has('range')) return undefined;
      stalls++;
      // Half the bytes, then nothing: the attempt's timeout must end it.
      return new HttpResponse(
        new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(full.slice(0, half)) }),
      );
    };
    const t0 = performance.now();
    const r = await createReconstructor({ ...base, cache: memoryStore(), timeoutMs: 300 });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(blobRequests()).toEqual([`blob ${file.sha256}`, `blob ${file.sha256} bytes=${half}-`]);
    expect((await r.reconstruct(ecg)).tmp).toEqual(clean);
    await r.dispose();
    // A manifest that never answers: each attempt times out, then a NetworkError.
    edge.fault = (_req, kind) =>
      kind === 'manifest'
        ? new Promise<undefined>(() => {
            stalls++;
          })
        : undefined;
    const err = await createReconstructor({
      ...base,
      cache: memoryStore(),
      timeoutMs: 100,
      retries: 2,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    reportFigure(task, {
      area: 'faults',
      what: 'SDK: responses stalled past the attempt timeout',
      count: stalls,
      unit: 'stalls',
      failures: 0,
    });
  });
});

describe('offline and a failing edge: the cache, then the remote API, then a typed error', () => {
  /** A store that holds cnn-lstm's manifest under 'stable' and its weights, as after one visit. */
  async function visited() {
    const store = memoryStore();
    await (await createReconstructor({ ...base, cache: store })).dispose();
    edge.seen = [];
    return store;
  }

  it('offline or 5xx on the manifest with a cached copy: loads from the cache and says so; a 404 is not papered over', async ({
    task,
  }) => {
    let injected = 0;
    let failures = 0;
    const store = await visited();
    const cases: [string, () => Response][] = [
      ['offline', () => HttpResponse.error()],
      ['503 burst', () => failWith(503)],
      ['500 burst', () => failWith(500)],
    ];
    for (const [label, answer] of cases) {
      edge.fault = () => counted(() => injected++, answer());
      const events: ProgressEvent[] = [];
      const r = await createReconstructor({
        ...base,
        cache: store,
        retries: 2,
        onProgress: (e) => events.push(e),
      });
      const fallback = events.find((e) => e.status === 'fallback');
      const ok =
        r.version === MODELS['cnn-lstm'] &&
        new RegExp(`could not be fetched .*; using the cached copy \\(cnn-lstm ${LSTM_VERSION}\\)`).test(
          r.fallbackReason ?? '',
        ) &&
        fallback !== undefined &&
        'reason' in fallback &&
        fallback.reason === r.fallbackReason &&
        blobRequests().length === 0 &&
        (await r.reconstruct(ecg)).tmp.every((v, i) => v === clean[i]);
      if (!ok) failures++;
      expect(ok, label).toBe(true);
      await r.dispose();
      edge.seen = [];
    }
    // A 404 means the model or alias is gone: the cache must not hide that.
    edge.fault = (_req, kind) => (kind === 'manifest' ? notFound("model 'cnn-lstm'") : undefined);
    await expect(createReconstructor({ ...base, cache: store })).rejects.toBeInstanceOf(ModelNotFoundError);
    reportFigure(task, {
      area: 'faults',
      what: 'SDK: edge offline or 5xx, model cached',
      count: injected,
      unit: 'failed requests',
      failures,
    });
    expect(failures).toBe(0);
  });

  it("device 'auto' with blobs that will not download falls back to the remote API, which it checks first", async ({
    task,
  }) => {
    let injected = 0;
    edge.fault = (_req, kind) => (kind === 'blob' ? counted(() => injected++, failWith(503)) : undefined);
    const events: ProgressEvent[] = [];
    const r = await createReconstructor({
      ...base,
      device: 'auto',
      retries: 1,
      cache: memoryStore(),
      onProgress: (e) => events.push(e),
    });
    expect(r.backend).toBe('remote');
    expect(r.fallbackReason).toMatch(
      /^webgpu: .*; wasm: the weights could not be downloaded \(.*answered 503/,
    );
    expect(edge.seen).toContain('ready cnn-lstm');
    expect(events.filter((e) => e.status === 'retry').length).toBeGreaterThan(0);
    expect((await r.reconstruct(ecg)).tmp[10]).toBe(10);
    await r.dispose();
    reportFigure(task, {
      area: 'faults',
      what: "SDK: blobs failing, device 'auto' → remote API",
      count: injected,
      unit: 'failed blob requests',
      failures: 0,
    });
  });

  it('a registry deployed without the inference Worker: the remote API says so (BackendUnavailableError) at the check and at a call; a model it lacks is still ModelNotFoundError', async () => {
    // What both Workers answer for a path they have no route for: the registry alone, for anything under /v2.
    const noRoute = (req: Request) =>
      HttpResponse.json(
        { error: { code: 'no_route', message: `no route for ${req.method} ${new URL(req.url).pathname}` } },
        { status: 404 },
      );
    const says =
      /has no inference API \(\/v2 answered 404, "no route for (GET|POST) \/v2\/models\/cnn-lstm\/.*it runs the model registry alone.*device 'wasm' or 'webgpu'/;
    // device 'auto' whose weights will not download: the check of the remote API finds no /v2.
    edge.fault = (req, kind) =>
      kind === 'blob' ? failWith(503) : kind === 'ready' || kind === 'infer' ? noRoute(req) : undefined;
    const auto = await createReconstructor({
      ...base,
      device: 'auto',
      retries: 1,
      cache: memoryStore(),
    }).catch((e: unknown) => e);
    expect(auto).toBeInstanceOf(ReconstructorError);
    expect((auto as Error).message).toMatch(says);
    // device 'remote': created without a check, refused at the call.
    edge.fault = undefined;
    const remote = await createReconstructor({ ...base, device: 'remote', retries: 1, cache: memoryStore() });
    edge.fault = (req, kind) => (kind === 'infer' ? noRoute(req) : undefined);
    const call = await remote.reconstruct(ecg).catch((e: unknown) => e);
    expect(call).toBeInstanceOf(BackendUnavailableError);
    expect((call as Error).message).toMatch(says);
    // An inference Worker that lacks the version: not the same thing, and not reported as it.
    edge.fault = (_req, kind) =>
      kind === 'infer'
        ? HttpResponse.json(
            { error: { code: 'not_found', message: `model cnn-lstm ${MODELS['cnn-lstm']} does not exist` } },
            { status: 404 },
          )
        : undefined;
    const missing = await remote.reconstruct(ecg).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ModelNotFoundError);
    await remote.dispose();
  });

  it('everything down: a NetworkError that says what failed and what to do — with and without a cached manifest', async ({
    task,
  }) => {
    let injected = 0;
    // Manifest cached, weights not: the edge down for blobs and the remote API alike.
    const store = memoryStore();
    await store.put(
      `manifest/${encodeURIComponent(EDGE)}/cnn-lstm/stable`,
      new TextEncoder().encode(JSON.stringify(edge.manifests.get('cnn-lstm'))),
    );
    edge.fault = () => counted(() => injected++, HttpResponse.error());
    const err = await createReconstructor({ ...base, device: 'auto', retries: 1, cache: store }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `cnn-lstm ${LSTM_VERSION} could not be loaded: the manifest .*cached copy.*; wasm: the weights could not be downloaded .*the edge's fallback API failed too .*Check the connection and edgeUrl`,
      ),
    );
    expect(weights(store)).toEqual([]);
    // Nothing cached at all: the manifest's NetworkError.
    const bare = await createReconstructor({
      ...base,
      device: 'auto',
      retries: 1,
      cache: memoryStore(),
    }).catch((e: unknown) => e);
    expect(bare).toBeInstanceOf(NetworkError);
    expect((bare as Error).message).toMatch(/could not be fetched after 2 attempts; check the connection/);
    // A remote reconstruct() whose edge has gone since.
    edge.fault = undefined;
    const remote = await createReconstructor({ ...base, device: 'remote', retries: 1, cache: memoryStore() });
    edge.fault = () => counted(() => injected++, failWith(502));
    const call = await remote.reconstruct(ecg).catch((e: unknown) => e);
    expect(call).toBeInstanceOf(NetworkError);
    expect((call as NetworkError).status).toBe(502);
    reportFigure(task, {
      area: 'faults',
      what: 'SDK: edge fully down (typed NetworkError)',
      count: injected,
      unit: 'failed requests',
      failures: 0,
    });
  });
});

describe('abort signals', () => {
  it('cancel during the manifest fetch, mid-download and during inference: an AbortError, nothing half-cached, a later load re-downloads and verifies', async ({
    task,
  }) => {
    let aborts = 0;
    let failures = 0;
    const check = (ok: boolean, what: string) => {
      aborts++;
      if (!ok) failures++;
      expect(ok, what).toBe(true);
    };
    const isAbort = (e: unknown) => (e as Error)?.name === 'AbortError';
    const store = memoryStore();

    // 1. During the manifest fetch (the edge stalls; the timeout is far away).
    let controller = new AbortController();
    edge.fault = (_req, kind) => (kind === 'manifest' ? new Promise<undefined>(() => {}) : undefined);
    setTimeout(() => controller.abort(abortError()), 30);
    let t0 = performance.now();
    let err = await createReconstructor({ ...base, cache: store, signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    check(isAbort(err) && performance.now() - t0 < 2000, 'manifest fetch');

    // 2. During the backoff between retries.
    controller = new AbortController();
    edge.fault = (_req, kind) =>
      kind === 'manifest'
        ? counted(() => setTimeout(() => controller.abort(abortError()), 5), failWith(503))
        : undefined;
    t0 = performance.now();
    err = await createReconstructor({
      ...base,
      backoffMs: 10_000,
      cache: store,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    check(isAbort(err) && performance.now() - t0 < 2000, 'backoff');

    // 3. Mid-download, twice: after some bytes, and after a reset while resuming.
    const full = edge.blobs.get(fp32()[0]!.sha256)!;
    for (const afterReset of [false, true]) {
      controller = new AbortController();
      let n = 0;
      edge.fault = (_req, kind) => {
        if (kind !== 'blob') return undefined;
        const first = n++ === 0;
        return new HttpResponse(
          new ReadableStream<Uint8Array>({
            start(c) {
              c.enqueue(full.slice(0, 100_000));
              if (first && afterReset) setTimeout(() => c.error(new TypeError('reset')), 5);
              else setTimeout(() => controller.abort(abortError()), 20);
            },
          }),
        );
      };
      err = await createReconstructor({ ...base, cache: store, signal: controller.signal }).catch(
        (e: unknown) => e,
      );
      check(isAbort(err) && weights(store).length === 0, `mid-download${afterReset ? ' after a reset' : ''}`);
    }

    // A later load fetches the whole blob again, verifies it, caches it and runs.
    edge.fault = undefined;
    edge.seen = [];
    const events: ProgressEvent[] = [];
    const r = await createReconstructor({ ...base, cache: store, onProgress: (e) => events.push(e) });
    check(
      blobRequests().length === 1 &&
        !blobRequests()[0]!.includes('bytes=') &&
        events.some((e) => e.status === 'verify' && !e.cached) &&
        weights(store).length === 1 &&
        (await r.reconstruct(ecg)).tmp.every((v, i) => v === clean[i]),
      'reload after aborts',
    );
    // 4. An already-aborted signal on reconstruct(): nothing runs.
    const gone = AbortSignal.abort(abortError());
    check(isAbort(await r.reconstruct(ecg, { signal: gone }).catch((e: unknown) => e)), 'aborted before');
    await r.dispose();

    // 5. During a remote inference that stalls, and during the backoff after a 503.
    const remote = await createReconstructor({
      ...base,
      device: 'remote',
      backoffMs: 10_000,
      cache: memoryStore(),
    });
    for (const answer of [() => new Promise<undefined>(() => {}), () => failWith(503)]) {
      controller = new AbortController();
      edge.fault = (_req, kind) => (kind === 'infer' ? answer() : undefined);
      setTimeout(() => controller.abort(abortError()), 30);
      t0 = performance.now();
      err = await remote.reconstruct(ecg, { signal: controller.signal }).catch((e: unknown) => e);
      check(isAbort(err) && performance.now() - t0 < 2000, 'remote inference');
    }
    // The reconstructor is still usable after its calls were cancelled.
    edge.fault = undefined;
    check((await remote.reconstruct(ecg)).tmp[10] === 10, 'remote after abort');

    // 6. During a local Transformer decode (WASM): stops between steps.
    const t = await createReconstructor({ ...base, model: 'transformer', cache: memoryStore() });
    controller = new AbortController();
    const segments: number[] = [];
    err = await (async () => {
      try {
        for await (const s of t.stream(ecg, { signal: controller.signal })) {
          segments.push(s.index);
          if (s.index === 2) controller.abort(abortError());
        }
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    check(isAbort(err) && segments.length < N_STEPS / 10, 'transformer decode');
    // …and the next call decodes all 50 segments.
    check((await t.reconstruct(ecg)).tmp.length === N_SITES * N_STEPS, 'transformer after abort');
    await t.dispose();

    await new Promise((r) => setTimeout(r, 50)); // let any stray rejection surface
    check(unhandled.length === 0, `no unhandled rejections (${unhandled.map(String).join('; ')})`);
    reportFigure(task, {
      area: 'faults',
      what: 'SDK: aborts while loading and during inference',
      count: aborts,
      unit: 'aborts',
      failures,
    });
  });
});

describe('bad input', () => {
  it('ECGs with wrong shapes, types, or NaN/±Inf: an InputShapeError naming where', async ({ task }) => {
    const r = await createReconstructor({ ...base, cache: memoryStore() });
    const at = (i: number, v: number) => {
      const x = ecg.slice();
      x[i] = v;
      return x;
    };
    const nested = (f: (l: number, k: number) => unknown) =>
      Array.from({ length: 12 }, (_, l) => Array.from({ length: 500 }, (_, k) => f(l, k)));
    const cases: [unknown, RegExp][] = [
      [at(0, Number.NaN), /non-finite value \(NaN\) at ECG 0, lead 0, step 0/],
      [at(6000 - 1, Number.POSITIVE_INFINITY), /non-finite value \(Infinity\) at ECG 0, lead 11, step 499/],
      [
        at(2 * 500 + 17, Number.NEGATIVE_INFINITY),
        /non-finite value \(-Infinity\) at ECG 0, lead 2, step 17/,
      ],
      [
        nested((l, k) => (l === 4 && k === 9 ? Number.NaN : 0)),
        /non-finite value \(NaN\) at ECG 0, lead 4, step 9/,
      ],
      [
        (() => {
          const two = new Float32Array(12_000);
          two[6000 + 500 * 7 + 3] = Number.POSITIVE_INFINITY;
          return two;
        })(),
        /at ECG 1, lead 7, step 3/,
      ],
      [new Float32Array(0), /got 0/],
      [new Float32Array(12 * 499), /12×500 = 6000 values per ECG .*got 5988/],
      [new Float32Array(6000 * 65), /at most 64 ECGs per call; got 65/],
      [new Float64Array(6000), /must be a Float32Array/],
      [nested(() => '1'), /ECG 0 lead 0 sample 0 is not a number/],
      [Array.from({ length: 11 }, () => new Array(500).fill(0)), /must have 12 leads .*got 11/],
      [[nested(() => 0), nested(() => 0).slice(0, 3)], /ECG 1 must have 12 leads/],
      [null, /must be a Float32Array/],
    ];
    let failures = 0;
    for (const [input, message] of cases) {
      const err = await r.reconstruct(input as Float32Array).catch((e: unknown) => e);
      if (!(err instanceof InputShapeError) || !message.test(err.message)) failures++;
      expect(err, String(message)).toBeInstanceOf(InputShapeError);
      expect((err as Error).message).toMatch(message);
    }
    // Still fine afterwards.
    expect((await r.reconstruct(ecg)).tmp).toEqual(clean);
    await r.dispose();
    reportFigure(task, {
      area: 'bad input',
      what: 'SDK: ECGs of wrong shape/type or NaN/±Inf',
      count: cases.length,
      unit: 'inputs',
      failures,
    });
    expect(failures).toBe(0);
  });

  it('a manifest whose hash is wrong, a blob longer or shorter than it says, a manifest failing the schema: clear errors, nothing cached, nothing run', async ({
    task,
  }) => {
    const m = edge.manifests.get('cnn-lstm')!;
    const file = fp32()[0]!;
    const full = edge.blobs.get(file.sha256)!;
    const withFile = (change: Partial<typeof file>) => ({
      ...m,
      files: m.files.map((f) => (f === file ? { ...f, ...change } : f)),
    });
    const cases: {
      what: string;
      manifest?: unknown;
      blob?: () => Response;
      error: new (...a: never[]) => Error;
      message: RegExp;
      maxBlobRequests: number;
    }[] = [
      {
        what: 'hash wrong for the blob',
        manifest: withFile({ sha256: 'ab'.repeat(32) }),
        blob: () => new HttpResponse(full.slice()),
        error: IntegrityError,
        message: /has sha256 [0-9a-f]{64}, the manifest says (ab){32}; the bytes were discarded/,
        maxBlobRequests: 1,
      },
      {
        what: 'blob longer (declared)',
        blob: () =>
          new HttpResponse(new Uint8Array(file.bytes + 1), {
            headers: { 'Content-Length': String(file.bytes + 1) },
          }),
        error: IntegrityError,
        message: new RegExp(`is ${file.bytes + 1} bytes on the server, the manifest says ${file.bytes}`),
        maxBlobRequests: 1,
      },
      {
        what: 'blob longer (streamed, no length)',
        blob: () =>
          new HttpResponse(
            new ReadableStream({
              start(c) {
                c.enqueue(full.slice());
                c.enqueue(new Uint8Array(7));
                c.close();
              },
            }),
          ),
        error: IntegrityError,
        message: new RegExp(`sent more than the manifest's ${file.bytes} bytes`),
        maxBlobRequests: 1,
      },
      {
        what: 'blob shorter (declared)',
        blob: () => new HttpResponse(full.slice(0, 1000), { headers: { 'Content-Length': '1000' } }),
        error: IntegrityError,
        message: new RegExp(`is 1000 bytes on the server, the manifest says ${file.bytes}`),
        maxBlobRequests: 1,
      },
      {
        what: 'blob shorter (streamed, ends cleanly)',
        blob: () =>
          new HttpResponse(
            new ReadableStream({
              start(c) {
                c.enqueue(full.slice(0, 5000));
                c.close();
              },
            }),
          ),
        error: IntegrityError,
        message: new RegExp(`sent 5000 bytes, the manifest says ${file.bytes}`),
        maxBlobRequests: 1,
      },
      {
        what: 'manifest: bad sha256',
        manifest: withFile({ sha256: 'not-a-digest' }),
        error: ManifestError,
        message: /the manifest of cnn-lstm stable is invalid: files\.\d+\.sha256/,
        maxBlobRequests: 0,
      },
      {
        what: 'manifest: negative bytes',
        manifest: withFile({ bytes: -5 }),
        error: ManifestError,
        message: /files\.\d+\.bytes/,
        maxBlobRequests: 0,
      },
      {
        what: 'manifest: no architecture',
        manifest: { ...m, architecture: undefined },
        error: ManifestError,
        message: /architecture/,
        maxBlobRequests: 0,
      },
      {
        what: 'manifest: not an object',
        manifest: [1, 2, 3],
        error: ManifestError,
        message: /is invalid: \(root\)/,
        maxBlobRequests: 0,
      },
      {
        what: 'manifest: another model',
        manifest: { ...m, name: 'cnn' },
        error: IntegrityError,
        message: /asked for model 'cnn-lstm', the server sent 'cnn'/,
        maxBlobRequests: 0,
      },
    ];
    let failures = 0;
    for (const c of cases) {
      const store = memoryStore();
      const sessions = vi.fn();
      edge.fault = (_req, kind) =>
        kind === 'manifest' && c.manifest !== undefined
          ? HttpResponse.json(c.manifest)
          : kind === 'blob' && c.blob !== undefined
            ? c.blob()
            : undefined;
      const err = await createReconstructor({
        ...base,
        cache: store,
        onProgress: (e) => e.status === 'ready' && sessions(),
      }).catch((e: unknown) => e);
      const ok =
        err instanceof c.error &&
        c.message.test((err as Error).message) &&
        blobRequests().length <= c.maxBlobRequests && // not retried as if the link had dropped
        weights(store).length === 0 &&
        sessions.mock.calls.length === 0;
      if (!ok) failures++;
      expect(err, c.what).toBeInstanceOf(c.error);
      expect((err as Error).message, c.what).toMatch(c.message);
      expect(ok, c.what).toBe(true);
      edge.seen = [];
    }
    reportFigure(task, {
      area: 'bad input',
      what: 'SDK: wrong hash, wrong blob length, invalid manifest',
      count: cases.length,
      unit: 'cases',
      failures,
    });
    expect(failures).toBe(0);
  });

  it('a corrupted cache entry is refetched, never run', async () => {
    const store = memoryStore();
    await (await createReconstructor({ ...base, cache: store })).dispose();
    const key = weights(store)[0]!;
    const bad = store.entries.get(key)!;
    bad[200] = bad[200]! ^ 0xff;
    edge.seen = [];
    const events: ProgressEvent[] = [];
    const r = await createReconstructor({ ...base, cache: store, onProgress: (e) => events.push(e) });
    expect(blobRequests()).toHaveLength(1);
    expect(events.find((e) => e.status === 'verify')).toMatchObject({ cached: false });
    expect((await r.reconstruct(ecg)).tmp).toEqual(clean);
    await r.dispose();
  });
});
