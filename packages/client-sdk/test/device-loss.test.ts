/**
 * A WebGPU device lost during inference, in headless Chromium with a real edge (test/browser/ has the
 * harness): the GPU device onnxruntime-web runs on is destroyed while reconstruct() waits on it, as a
 * driver reset would do. The SDK must re-create its sessions (on a new device, or on WASM), finish that
 * call and the next ones with a correct result, and say what happened (fallbackReason and a 'fallback'
 * progress event). The CNN-LSTM, since WebGPU here is SwiftShader (the CPU) and slow.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { N_SITES, N_STEPS, VM_SPAN_MV } from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { KEPT_STEPS, STRIDE } from '../../edge-api/test/fixtures/references.ts';
import { CHROMIUM, call, type Harness, hasChromium, startHarness } from './browser/harness.ts';

/** WebGPU and WASM both agree with the Node reference within 1e-3 of the normalised scale. */
const TOLERANCE_MV = 1e-3 * VM_SPAN_MV;
const FIXTURES = join(import.meta.dirname, '../../edge-api/test/fixtures');
const floats = async (file: string) =>
  new Float32Array((await readFile(join(FIXTURES, file))).buffer.slice(0));
const ecg = (await floats('ecg.bin')).slice(0, 12 * N_STEPS);
const reference = await floats('cnn-lstm.full.bin');

/** Largest |tmp − Node reference| (mV) over the reference's kept steps. */
function deviation(tmp: Float32Array): number {
  let worst = 0;
  for (let site = 0; site < N_SITES; site++)
    for (let k = 0; k * STRIDE < N_STEPS; k++)
      worst = Math.max(
        worst,
        Math.abs(tmp[site * N_STEPS + k * STRIDE]! - reference[site * KEPT_STEPS + k]!),
      );
  return worst;
}

const skipReason = hasChromium()
  ? ''
  : ` — SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium libvulkan1, or set CHROMIUM_PATH)`;
if (skipReason !== '') console.warn(`device-loss.test.ts${skipReason}`);

describe.skipIf(!hasChromium())(`a lost WebGPU device in headless Chromium${skipReason}`, () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  }, 150_000);
  afterAll(async () => {
    await h?.close();
  });

  it('cnn-lstm: the device is destroyed mid-reconstruct(); that call and the next ones succeed, and the SDK says why', async ({
    task,
  }) => {
    const page = await h.openPage(await h.newContext());
    let failures = 0;
    let faults = 0;
    try {
      const opened = await call(page, 'open', {
        model: 'cnn-lstm',
        device: 'auto',
        edgeUrl: h.edge.url,
        cache: 'none',
      });
      expect(opened.backend).toBe('webgpu');
      const before = await call(page, 'run', opened.id, ecg);
      expect(before.backend).toBe('webgpu');
      expect(deviation(before.tmp)).toBeLessThanOrEqual(TOLERANCE_MV);

      // The loss lands while the run waits on the GPU: both start in one page turn.
      const [during] = await page.evaluate(
        async ([id, input]) => {
          const api = (globalThis as unknown as import('./browser/api.ts').HarnessGlobal).harness;
          const running = api.run(id, input);
          await new Promise((r) => setTimeout(r, 50));
          const lost = await api.loseGpuDevice();
          return [await running, lost] as const;
        },
        [opened.id, ecg] as const,
      );
      faults++;
      if (deviation(during.tmp) > TOLERANCE_MV) failures++;

      const state = await call(page, 'state', opened.id);
      expect(state.fallbackReason).toMatch(/the WebGPU device was lost \(destroyed/);
      expect(state.progress.filter((e) => e.status === 'fallback')).toEqual([
        { status: 'fallback', reason: expect.stringMatching(/WebGPU device was lost/) },
      ]);
      expect(['webgpu', 'wasm']).toContain(state.backend);
      expect(during.backend).toBe(state.backend);

      // Later calls run where it recovered, correctly; a second loss (when it is still on WebGPU) too.
      const after = await call(page, 'run', opened.id, ecg, 2);
      expect(after.backend).toBe(state.backend);
      if (deviation(after.tmp) > TOLERANCE_MV) failures++;
      if (state.backend === 'webgpu') {
        expect(await call(page, 'loseGpuDevice')).toBe(true);
        faults++;
        const again = await call(page, 'run', opened.id, ecg);
        if (deviation(again.tmp) > TOLERANCE_MV) failures++;
      }
      console.info(`device loss: recovered on ${state.backend} (${state.fallbackReason})`);
      await call(page, 'dispose', opened.id);
      reportFigure(task, {
        area: 'faults',
        what: 'WebGPU device lost during reconstruct() (Chromium, cnn-lstm)',
        count: faults,
        unit: 'device losses',
        failures,
        note: `recovered on ${state.backend}`,
      });
      expect(failures).toBe(0);
    } finally {
      await page.close();
    }
  }, 300_000);
});
