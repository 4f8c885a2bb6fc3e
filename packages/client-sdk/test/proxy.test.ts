/**
 * The `proxy` option in headless Chromium with a real edge: the Transformer reconstructed on WASM off the
 * page's main thread, each way in a page of its own (ORT reads its env once per page):
 *   - in the SDK's own worker (ecg-tmp-sdk-worker.js beside the bundle; the page's import map gives the
 *     worker ORT's URL): the whole decode there, the page's ORT env untouched;
 *   - where that worker cannot start (here: `workerUrl` naming a missing script), in onnxruntime-web's
 *     own proxy (`env.wasm.proxy`, set by the SDK because the app asked);
 * each leaves the main thread free — long tasks (over 50 ms) counted with a PerformanceObserver during a
 * warm run — and gives the TMP of the same run on the main thread. Without the option the SDK starts no
 * worker and leaves `env.wasm.proxy` to ORT (false). A stream aborted in the worker stops within a few
 * steps, and the next run gives the same TMP. Fails on the SDK before its worker (no worker named
 * 'ecg-tmp-sdk') and before the proxy option's change (no proxy, or every Transformer run refused by
 * ORT's worker: "ArrayBuffer at index 2 is a duplicate of an earlier ArrayBuffer").
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { N_STEPS } from '@ecg-tmp/core';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, call, type Harness, hasChromium, startHarness } from './browser/harness.ts';

const FIXTURES = join(import.meta.dirname, '../../edge-api/test/fixtures');
const ecg = new Float32Array((await readFile(join(FIXTURES, 'ecg.bin'))).buffer.slice(0)).slice(
  0,
  12 * N_STEPS,
);

const skipReason = hasChromium() ? '' : ` — SKIPPED: no Chromium at ${CHROMIUM}`;

/** The durations (ms) of the page's long tasks while `work` runs. */
async function longTasksDuring(page: Page, work: () => Promise<unknown>): Promise<number[]> {
  await page.evaluate(() => {
    const w = globalThis as unknown as { longTasks: number[]; observing?: boolean };
    w.longTasks = [];
    if (w.observing === true) return;
    w.observing = true;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longTasks.push(e.duration);
    }).observe({ type: 'longtask' });
  });
  await work();
  // Entries reach the observer after their task ends.
  await page.waitForTimeout(200);
  return page.evaluate(() => (globalThis as unknown as { longTasks: number[] }).longTasks);
}

describe.skipIf(!hasChromium())(`the proxy option: ORT's WASM build in a Web Worker${skipReason}`, () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  }, 150_000);
  afterAll(async () => {
    await h?.close();
  });

  type Mode = 'main' | 'sdk-worker' | 'ort-proxy';

  /** A warm Transformer run on WASM in a page of its own; its TMP, long tasks, ORT's proxy, the workers. */
  async function transformer(mode: Mode) {
    const page = await h.openPage(await h.newContext());
    try {
      const opened = await call(page, 'open', {
        model: 'transformer',
        device: 'wasm',
        edgeUrl: h.edge.url,
        ...(mode === 'main' ? {} : { proxy: true }),
        ...(mode === 'ort-proxy' ? { workerUrl: '/sdk/no-such-worker.js' } : {}),
      });
      await call(page, 'run', opened.id, ecg);
      let result: Awaited<ReturnType<typeof call<'run'>>> | undefined;
      const longTasks = await longTasksDuring(page, async () => {
        result = await call(page, 'run', opened.id, ecg);
      });
      const aborted = mode === 'sdk-worker' ? await call(page, 'abortAfter', opened.id, ecg, 5) : undefined;
      const after = mode === 'sdk-worker' ? await call(page, 'run', opened.id, ecg) : undefined;
      const workers = await call(page, 'workers');
      const env = await call(page, 'ortEnv');
      await call(page, 'dispose', opened.id);
      return {
        backend: opened.backend,
        result: result!,
        longTasks,
        proxy: env.proxy,
        workers,
        aborted,
        after,
      };
    } finally {
      await page.close();
    }
  }

  it("runs the Transformer off the main thread — in the SDK's worker, else ORT's proxy — with the same TMP as on it", async () => {
    const onMain = await transformer('main');
    const inSdk = await transformer('sdk-worker');
    const inOrt = await transformer('ort-proxy');
    const longest = (xs: number[]) => Math.max(0, ...xs).toFixed(0);
    const line = (what: string, r: typeof onMain) =>
      `${what} ${r.result.ms[0]!.toFixed(0)} ms, ${r.longTasks.length} long tasks (longest ${longest(r.longTasks)} ms)`;
    console.log(
      `transformer on WASM (Chromium), warm run: ${line('main thread', onMain)}; ${line("SDK's worker", inSdk)}; ` +
        `${line("ORT's proxy", inOrt)}; abort after 5 segments ended the stream after ${inSdk.aborted!.segments} in ${inSdk.aborted!.ms.toFixed(0)} ms`,
    );
    expect([onMain.backend, inSdk.backend, inOrt.backend]).toEqual(['wasm', 'wasm', 'wasm']);
    const sdkWorkers = (r: typeof onMain) => r.workers.filter((w) => w.name === 'ecg-tmp-sdk');
    // Without the option: no worker of the SDK's, ORT's proxy off.
    expect(sdkWorkers(onMain)).toEqual([]);
    expect(onMain.proxy).toBe(false);
    // With it: the SDK's worker, from beside the bundle; the page's ORT env as ORT left it.
    expect(sdkWorkers(inSdk).map((w) => new URL(w.url).pathname)).toEqual(['/sdk/ecg-tmp-sdk-worker.js']);
    expect(inSdk.proxy).not.toBe(true);
    // With no worker script to load: the worker was tried, and ORT's proxy runs it.
    expect(sdkWorkers(inOrt).map((w) => new URL(w.url).pathname)).toEqual(['/sdk/no-such-worker.js']);
    expect(inOrt.proxy).toBe(true);
    // The same WASM kernels, in a worker: the same numbers up to float32 rounding.
    const maxDiff = (a: Float32Array, b: Float32Array) => {
      expect(b.length).toBe(a.length);
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
      return d;
    };
    expect(maxDiff(onMain.result.tmp, inSdk.result.tmp)).toBeLessThan(1e-3);
    expect(maxDiff(onMain.result.tmp, inOrt.result.tmp)).toBeLessThan(1e-3);
    // Aborted after 5 of 50 segments, the worker's decode stops at its next step: the stream throws the
    // abort (at most the segments already posted come first), and the worker runs the next call whole.
    expect(inSdk.aborted!.error).toBe('AbortError');
    expect(inSdk.aborted!.segments).toBeLessThan(10);
    expect(maxDiff(inSdk.result.tmp, inSdk.after!.tmp)).toBe(0);
    // In a worker the page only handles messages. (On the main thread, with ORT's threads on this
    // cross-origin-isolated page, the steps gave no long task either in the runs here: 0 of them.) Idle
    // machines gave no long task in ORT's proxy; a clean-clone CI run on a loaded 2-core machine gave one
    // of 54 ms (a garbage collection or a late message). A run's kernels held on the page would be a task
    // as long as a good part of the run (188 ms on the main thread here), so: no task of half a run.
    expect(Math.max(0, ...inSdk.longTasks)).toBeLessThan(0.5 * onMain.result.ms[0]!);
    expect(Math.max(0, ...inOrt.longTasks)).toBeLessThan(0.5 * onMain.result.ms[0]!);
  }, 240_000);
});
