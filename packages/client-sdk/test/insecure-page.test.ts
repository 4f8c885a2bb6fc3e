/**
 * The built SDK bundle on a page that is not a secure context, in headless Chromium with a real edge:
 * the harness's page reached as http://insecure.test:PORT/ (Chromium's host rules map the name to
 * 127.0.0.1; a name that is not localhost over plain http is what a phone testing a LAN dev server
 * gets), where the browser gives no `crypto.subtle` and no Cache Storage. The SDK must still load,
 * verify (its JavaScript SHA-256) and run the model on WASM, and keep the weights between page loads
 * (IndexedDB in place of Cache Storage).
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { N_SITES, N_STEPS, VM_SPAN_MV } from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEPT_STEPS, STRIDE } from '../../edge-api/test/fixtures/references.ts';
import { CHROMIUM, call, type Harness, hasChromium, startHarness } from './browser/harness.ts';

const HOST = 'insecure.test';
const FIXTURES = join(import.meta.dirname, '../../edge-api/test/fixtures');
const floats = async (file: string) =>
  new Float32Array((await readFile(join(FIXTURES, file))).buffer.slice(0));
const ecg = (await floats('ecg.bin')).slice(0, 12 * N_STEPS);

const skipReason = hasChromium() ? '' : ` — SKIPPED: no Chromium at ${CHROMIUM}`;

describe.skipIf(!hasChromium())(`the SDK on a page that is not a secure context${skipReason}`, () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ chromiumArgs: [`--host-resolver-rules=MAP ${HOST} 127.0.0.1`] });
  }, 150_000);
  afterAll(async () => {
    await h?.close();
  });

  it('verifies with its own SHA-256, runs on WASM as on https, and caches in IndexedDB', async () => {
    const context = await h.newContext();
    const blobs: string[] = [];
    context.on('request', (r) => {
      if (r.url().includes('/v1/blobs/')) blobs.push(r.url());
    });
    try {
      const load = async () => {
        const page = await h.openPage(context, { host: HOST });
        const env = await page.evaluate(() => ({
          secure: globalThis.isSecureContext,
          subtle: typeof globalThis.crypto?.subtle,
          caches: typeof (globalThis as { caches?: unknown }).caches,
        }));
        expect(env).toEqual({ secure: false, subtle: 'undefined', caches: 'undefined' });
        const opened = await call(page, 'open', { model: 'cnn-lstm', device: 'wasm', edgeUrl: h.edge.url });
        const result = await call(page, 'run', opened.id, ecg);
        await call(page, 'dispose', opened.id);
        await page.close();
        return { opened, result };
      };
      const first = await load();
      expect(first.opened.backend).toBe('wasm');
      expect(first.opened.progress.filter((e) => e.status === 'verify')).toEqual([
        { status: 'verify', cached: false },
      ]);
      expect(blobs).toHaveLength(1);
      // The Node reference of the same model and ECG (the edge's fixture): the weights ran as verified.
      const reference = await floats('cnn-lstm.full.bin');
      let worst = 0;
      for (let site = 0; site < N_SITES; site++)
        for (let k = 0; k * STRIDE < N_STEPS; k++)
          worst = Math.max(
            worst,
            Math.abs(first.result.tmp[site * N_STEPS + k * STRIDE]! - reference[site * KEPT_STEPS + k]!),
          );
      expect(worst).toBeLessThanOrEqual(1e-4 * VM_SPAN_MV);

      blobs.length = 0;
      const second = await load();
      expect(blobs).toEqual([]);
      expect(second.opened.progress.filter((e) => e.status === 'verify')).toEqual([
        { status: 'verify', cached: true },
      ]);
      expect(second.result.tmp).toEqual(first.result.tmp);
    } finally {
      await context.close();
    }
  }, 120_000);
});
