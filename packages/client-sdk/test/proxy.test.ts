/**
 * The `proxy` option in headless Chromium with a real edge: the Transformer reconstructed on WASM with
 * onnxruntime-web in its own Web Worker (ORT's `env.wasm.proxy`, set by the SDK because the app asked)
 * leaves the page's main thread free — long tasks (over 50 ms) counted with a PerformanceObserver during a
 * warm run — and gives the TMP of the same run on the main thread, in a page of its own (ORT reads its env
 * once per page). Without the option the SDK leaves `env.wasm.proxy` to ORT (false). Fails on the SDK
 * before the option's change in either way: no proxy, or (with the app setting `env.wasm.proxy`) every
 * Transformer run refused by ORT's worker ("ArrayBuffer at index 2 is a duplicate of an earlier
 * ArrayBuffer": the proxy transfers inputs, and the decoder reuses its memory, cache and empty tensor).
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

  /** A warm Transformer run on WASM in a page of its own; its TMP, long tasks and ORT's proxy setting. */
  async function transformer(proxy: boolean) {
    const page = await h.openPage(await h.newContext());
    try {
      const opened = await call(page, 'open', {
        model: 'transformer',
        device: 'wasm',
        edgeUrl: h.edge.url,
        ...(proxy ? { proxy } : {}),
      });
      await call(page, 'run', opened.id, ecg);
      let result: Awaited<ReturnType<typeof call<'run'>>> | undefined;
      const longTasks = await longTasksDuring(page, async () => {
        result = await call(page, 'run', opened.id, ecg);
      });
      const env = await call(page, 'ortEnv');
      await call(page, 'dispose', opened.id);
      return { backend: opened.backend, result: result!, longTasks, proxy: env.proxy };
    } finally {
      await page.close();
    }
  }

  it('runs the Transformer off the main thread, with the same TMP as on it', async () => {
    const onMain = await transformer(false);
    const inWorker = await transformer(true);
    const longest = (xs: number[]) => Math.max(0, ...xs).toFixed(0);
    console.log(
      `transformer on WASM (Chromium), warm run: main thread ${onMain.result.ms[0]!.toFixed(0)} ms, ` +
        `${onMain.longTasks.length} long tasks (longest ${longest(onMain.longTasks)} ms); ` +
        `proxy ${inWorker.result.ms[0]!.toFixed(0)} ms, ${inWorker.longTasks.length} long tasks (longest ${longest(inWorker.longTasks)} ms)`,
    );
    expect([onMain.backend, inWorker.backend]).toEqual(['wasm', 'wasm']);
    expect(onMain.proxy).toBe(false);
    expect(inWorker.proxy).toBe(true);
    // The same WASM kernels, in a worker: the same numbers up to float32 rounding.
    let maxDiff = 0;
    for (let i = 0; i < onMain.result.tmp.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(onMain.result.tmp[i]! - inWorker.result.tmp[i]!));
    expect(inWorker.result.tmp.length).toBe(onMain.result.tmp.length);
    expect(maxDiff).toBeLessThan(1e-3);
    // In the worker the page only handles ORT's messages. (On the main thread, with ORT's threads on this
    // cross-origin-isolated page, the steps gave no long task either in the runs here: 0 of them.) Idle
    // machines gave no long task in the worker; a clean-clone CI run on a loaded 2-core machine gave one
    // of 54 ms (a garbage collection or a late message). A run's kernels held on the page would be a task
    // as long as a good part of the run (188 ms on the main thread here), so: no task of half a run.
    expect(Math.max(0, ...inWorker.longTasks)).toBeLessThan(0.5 * onMain.result.ms[0]!);
  }, 150_000);
});
