/**
 * The demo end to end, started as `npm start` starts it (packages/demo/scripts/start.ts: the edge with
 * the default models on a free port and fresh state, and the page server), driven in headless Chromium
 * with WebGPU on SwiftShader (CPU Vulkan — slow, so the runs are few and small):
 *   the page loads with the synthetic samples and the edge's model list; CNN-LSTM reconstructs a sample
 *   on WebGPU and on WASM, and the MAE/R² the page shows (on WASM, the repolarisation error too) are the
 *   SDK's, computed here in Node; the Transformer is streamed; bad uploads show an error, a CSV + VmData
 *   upload scores like the sample; an uploaded real recording (PTB s0010_re, .hea + .dat) shows its 13
 *   beats on a strip and a picked beat reconstructs as the SDK does it in Node; a reload reconstructs
 *   with the blobs blocked, and offline;
 *   examples/embed.html reconstructs; every page
 *   response carries the CSP, nosniff and isolation headers, and none of the runs hits a CSP violation.
 * Screenshots go to test/artifacts/ (desktop and phone).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createReconstructor,
  type InDistribution,
  memoryStore,
  parseRecording,
  reconstructRecording,
  repolarisationTimes,
} from '@ecg-tmp/client-sdk';
import {
  checkInDistribution,
  computeMetrics,
  ecgFeatures,
  encodeNpy,
  fitDistribution,
  leadsFromElectrodes,
  type Manifest,
  N_SITES,
  N_STEPS,
  normaliseVm,
  parseManifest,
} from '@ecg-tmp/core';
import { createSimulator } from '@ecg-tmp/simulator';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { freePort } from '../../edge-api/scripts/start.ts';
import { DIST } from '../scripts/build.ts';
import { decodeSamples, type Sample } from '../src/samples.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const ARTIFACTS = new URL('artifacts/', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--disable-gpu-sandbox',
];
const READY = /^demo on (\S+) — .* edge API on (\S+)\./m;
/** The sample the runs use: #2, a left bundle branch block. */
const SAMPLE = 1;

interface Shown {
  state?: string;
  backend?: string;
  mae?: string;
  r2?: string;
  weights?: string;
  segments?: string;
  error?: string;
  activationMedian?: string;
  inDistribution?: string;
  reconstructMs?: string;
}

let child: ChildProcess;
let state: string;
let demoUrl: string;
let edgeUrl: string;
let browser: Browser;
let samples: Sample[];
let stderr = '';

/** Starts start.ts as `npm start` does and resolves with the page's and the edge's URLs. */
async function startStack(): Promise<void> {
  state = await mkdtemp(join(tmpdir(), 'demo-e2e-'));
  const [edgePort, demoPort] = [await freePort(), await freePort()];
  child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'packages/demo/scripts/start.ts',
      '--port',
      String(edgePort),
      '--persist-to',
      state,
      '--demo-port',
      String(demoPort),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-8000);
  });
  [demoUrl, edgeUrl] = await new Promise<[string, string]>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = READY.exec(stdout);
      if (m !== null) resolve([m[1]!, m[2]!]);
    });
    child.once('exit', (code) =>
      reject(new Error(`npm start exited ${code} before it was ready:\n${stderr}`)),
    );
  });
}

/** What the result panel shows, from its data-* attributes. */
const shown = (page: Page): Promise<Shown> =>
  page.evaluate(() => ({ ...(document.getElementById('result') as HTMLElement).dataset }));

/** Records the page's long tasks (over 50 ms, the browser's own threshold) from now on. */
async function watchLongTasks(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { longTasks: { start: number; ms: number }[] };
    w.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longTasks.push({ start: e.startTime, ms: e.duration });
    }).observe({ type: 'longtask' });
  });
}

/**
 * The long tasks inside the page's last 'ecg-tmp:reconstruct' measure: each one's duration (ms) and
 * whether a chart redraw (an 'ecg-tmp:draw' measure) ran in it — else it was the SDK's or ORT's work.
 */
const lastRunLongTasks = (page: Page): Promise<{ ms: number; draw: boolean }[]> =>
  page.evaluate(() => {
    const run = performance.getEntriesByName('ecg-tmp:reconstruct').at(-1);
    if (run === undefined) throw new Error('the page measured no reconstruction');
    const overlaps = (start: number, ms: number, other: { startTime: number; duration: number }) =>
      start + ms > other.startTime && start < other.startTime + other.duration;
    const draws = performance.getEntriesByName('ecg-tmp:draw');
    const tasks = (window as unknown as { longTasks: { start: number; ms: number }[] }).longTasks;
    return tasks
      .filter((t) => overlaps(t.start, t.ms, run))
      .map((t) => ({ ms: t.ms, draw: draws.some((d) => overlaps(t.start, t.ms, d)) }));
  });

/** CSP violations reported by any page the tests open (the page's own event, and Chromium's console line). */
const cspViolations: string[] = [];

async function watchCsp(page: Page): Promise<void> {
  await page.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) =>
      console.error(
        `Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`,
      ),
    ),
  );
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`);
  });
}

async function openPage(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  await watchCsp(page);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demoUrl);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 30_000 });
  return { page, errors };
}

/** Picks the options and clicks Reconstruct; resolves once the page shows the result (or an error). */
async function reconstruct(
  page: Page,
  choice: { model: string; device: string; sample?: number; limited?: boolean },
): Promise<Shown> {
  await page.selectOption('#model', choice.model);
  await page.selectOption('#device', choice.device);
  if (choice.sample !== undefined) await page.selectOption('#sample', String(choice.sample));
  await page.check(
    choice.limited === true ? 'input[name="time"][value="limited"]' : 'input[name="time"][value="full"]',
  );
  await page.click('#run');
  await page.waitForFunction(
    () => ['done', 'error'].includes((document.getElementById('result') as HTMLElement).dataset.state ?? ''),
    null,
    { timeout: 150_000, polling: 100 },
  );
  return shown(page);
}

/** The manifest of a model's stable version, as the edge serves it to the page. */
async function stableManifestOf(model: string): Promise<Manifest> {
  const res = await fetch(`${edgeUrl}/v1/models/${model}/versions/stable`);
  return parseManifest(await res.json());
}

/**
 * The SDK run here in Node (WASM) on the same ECG, scored the paper's way: core's metrics, normalised scale;
 * with the mean repolarisation-time error (ms) over the sites the SDK's helper times in both.
 */
async function sdkScore(model: string, ecg: Float32Array, truth: Float32Array, limitedTime = false) {
  const r = await createReconstructor({ model, edgeUrl, device: 'wasm', cache: memoryStore() });
  try {
    const { tmp, inDistribution } = await r.reconstruct(ecg, { limitedTime });
    const shape = [1, N_SITES, N_STEPS] as const;
    const scale = r.manifest.normalisation.tmp;
    const [rtTrue, rtPred] = [repolarisationTimes(truth), repolarisationTimes(tmp)];
    const both = [...rtTrue.keys()].filter((s) => rtTrue[s]! >= 0 && rtPred[s]! >= 0);
    const repolarisationMaeMs =
      both.reduce((sum, s) => sum + Math.abs(rtPred[s]! - rtTrue[s]!), 0) / both.length;
    const metrics = computeMetrics(
      normaliseVm({ data: truth, shape }, scale).data,
      normaliseVm({ data: tmp, shape }, scale).data,
    );
    return { ...metrics, repolarisationMaeMs, check: inDistribution[0]! };
  } finally {
    await r.dispose();
  }
}

/**
 * The page shows the SDK's in-distribution check `check` of its last reconstruction: the status (also as
 * data-in-distribution), core's message as the warning when unusual or out of range and only then,
 * 'not checked' quietly (no warning) for a model without training-set statistics.
 */
async function expectDistributionShown(page: Page, check: InDistribution): Promise<void> {
  expect((await shown(page)).inDistribution).toBe(check.status);
  const label = await page.textContent('#in-distribution');
  expect(label).toContain(
    {
      'in-range': 'in range',
      unusual: 'unusual',
      'out-of-range': 'out of range',
      'not-checked': 'not checked',
      'not-measurable': 'not measurable',
    }[check.status],
  );
  expect(await page.getAttribute('#in-distribution', 'title')).toBe(check.message);
  const warning = page.locator('#distribution-warning');
  if (check.status === 'unusual' || check.status === 'out-of-range') {
    expect(await warning.isVisible()).toBe(true);
    expect(await warning.textContent()).toBe(check.message);
  } else {
    expect(await warning.isVisible()).toBe(false);
  }
}

describe.skipIf(!existsSync(CHROMIUM))(
  'the demo page (npm start: edge + page, Chromium with WebGPU on SwiftShader)',
  () => {
    let context: BrowserContext;
    let page: Page;
    let errors: string[];

    beforeAll(async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      [, browser] = await Promise.all([
        startStack(),
        chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
      ]);
      const index = JSON.parse(await readFile(join(DIST, 'samples.json'), 'utf8'));
      samples = decodeSamples(index, new Uint8Array(await readFile(join(DIST, 'samples.bin'))));
      context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      ({ page, errors } = await openPage(context));
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      if (child !== undefined && child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await exited;
      }
      if (state !== undefined) await rm(state, { recursive: true, force: true });
    });

    it('loads: the synthetic samples, the edge models with their versions, the ECG and the truth plotted', async () => {
      expect(await page.locator('#sample option').count()).toBe(samples.length);
      // npm start publishes every shipped version; the aliases are models/aliases.json's.
      const aliases = JSON.parse(
        await readFile(new URL('../../../models/aliases.json', import.meta.url), 'utf8'),
      );
      const { stable, latest } = aliases['cnn-lstm'] as { stable: string; latest: string };
      expect(await page.locator('#version option').allTextContents()).toEqual(
        expect.arrayContaining([
          `stable (${stable})`,
          `latest (${latest})`,
          '0.3.3',
          '0.3.2',
          '0.3.1',
          '0.3.0',
          '0.2.2',
          '0.2.1',
          '0.2.0',
          '0.1.3',
          '0.1.2',
          '0.1.1',
          '0.1.0',
        ]),
      );
      // One canvas per chart: the ECG, the site, the 75 small multiples, the two maps.
      expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(5);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      expect(await shown(page)).toMatchObject({ state: 'idle' });
      expect(errors).toEqual([]);
    });

    it('reconstructs a sample with CNN-LSTM on WebGPU; the MAE and R² shown are the SDK’s', async () => {
      const result = await reconstruct(page, { model: 'cnn-lstm', device: 'webgpu', sample: SAMPLE });
      expect(result, stderr).toMatchObject({ state: 'done', backend: 'webgpu', weights: 'network' });
      const sample = samples[SAMPLE]!;
      const expected = await sdkScore('cnn-lstm', sample.ecg, sample.tmp);
      // The GPU's float32 arithmetic differs from WASM's in the last bits only.
      expect(Number(result.mae)).toBeCloseTo(expected.mae, 5);
      expect(Number(result.r2)).toBeCloseTo(expected.r2, 4);
      expect(await page.textContent('#mae')).toContain(expected.mae.toFixed(4));
      expect(await page.textContent('#r2')).toBe(expected.r2.toFixed(3));
      // The version's model card, one click away, from its manifest; no warning for a model whose output
      // follows its ECG (or whose spread was not measured).
      const manifest = await stableManifestOf('cnn-lstm');
      expect(await page.isVisible('#model-card')).toBe(true);
      expect(await page.isVisible('#model-card-body')).toBe(false);
      await page.click('#model-card summary');
      expect(await page.textContent('#model-card-body')).toContain(manifest.card!.notFor);
      for (const line of manifest.card!.limitations)
        expect(await page.textContent('#model-card-body')).toContain(line);
      const spread = manifest.metrics.full?.spread;
      expect(await page.isVisible('#model-warning')).toBe(spread !== undefined && spread < 0.5);
      await page.screenshot({ path: join(ARTIFACTS, 'desktop-webgpu.png'), fullPage: true });
    }, 170_000);

    it('reconstructs on WASM too, full-time and limited-time (Exp II), with the SDK’s numbers', async () => {
      const sample = samples[SAMPLE]!;
      const full = await reconstruct(page, { model: 'cnn-lstm', device: 'wasm' });
      expect(full).toMatchObject({ state: 'done', backend: 'wasm', weights: 'cache' });
      const expected = await sdkScore('cnn-lstm', sample.ecg, sample.tmp);
      expect(Number(full.mae)).toBeCloseTo(expected.mae, 6);
      expect(Number(full.r2)).toBeCloseTo(expected.r2, 6);
      // The shipped models say 'not checked' until their re-export adds the statistics; then the SDK's score.
      await expectDistributionShown(page, expected.check);
      expect(await page.textContent('#rt-error')).toBe(
        Number.isNaN(expected.repolarisationMaeMs)
          ? 'no site back below −60 mV in both'
          : `${expected.repolarisationMaeMs.toFixed(1)} ms mean`,
      );
      // The README's picture (docs/demo.png is picked from these): WASM times are a CPU's, not SwiftShader's.
      await page.screenshot({
        path: join(ARTIFACTS, 'desktop-top.png'),
        fullPage: true,
        clip: { x: 0, y: 0, width: 1280, height: 1560 },
      });

      const limited = await reconstruct(page, { model: 'cnn-lstm', device: 'wasm', limited: true });
      const expectedLimited = await sdkScore('cnn-lstm', sample.ecg, sample.tmp, true);
      expect(Number(limited.mae)).toBeCloseTo(expectedLimited.mae, 6);
      expect(Number(limited.mae)).not.toBeCloseTo(expected.mae, 3);
      await page.screenshot({ path: join(ARTIFACTS, 'limited-time.png'), fullPage: true });

      // The warning reads the spread of the experiment that ran: the SqueezeNet follows its ECG over the
      // whole window and collapses on the first 10 ms (Exp II), and the page says so only for the latter.
      const cnn = await stableManifestOf('cnn');
      for (const exp2 of [false, true]) {
        await reconstruct(page, { model: 'cnn', device: 'wasm', limited: exp2 });
        const spread = (exp2 ? cnn.metrics.limited : cnn.metrics.full)?.spread;
        expect(spread, `cnn ${cnn.version} ${exp2 ? 'limited' : 'full'} spread`).toBeDefined();
        expect(await page.isVisible('#model-warning')).toBe(spread! < 0.5);
        if (exp2) expect(await page.textContent('#model-warning')).toContain('from the first 10 ms');
      }

      // The edge's narrower CNN-LSTM is offered too, and reconstructs as the SDK alone does.
      const small = await reconstruct(page, { model: 'cnn-lstm-small', device: 'wasm' });
      expect(small).toMatchObject({ state: 'done', backend: 'wasm', model: 'cnn-lstm-small' });
      const expectedSmall = await sdkScore('cnn-lstm-small', sample.ecg, sample.tmp);
      expect(Number(small.r2)).toBeCloseTo(expectedSmall.r2, 6);
      expect(expectedSmall.r2).toBeGreaterThan(0.8);
    }, 120_000);

    it('streams the Transformer: all 50 segments of 10 steps reach the page through r.stream()', async () => {
      await watchLongTasks(page);
      const result = await reconstruct(page, { model: 'transformer', device: 'wasm', sample: SAMPLE });
      expect(result).toMatchObject({ state: 'done', backend: 'wasm', segments: '50' });
      const first = await lastRunLongTasks(page);
      // Side by side in this page, three rounds: the demo streaming and drawing (weights loaded), and the
      // SDK alone (its own bundle, reconstructors of its own, warmed up by one run) on the same ECG, on the
      // main thread and in its worker (proxy: true, as the demo runs it). A string, not a function: vitest
      // would rewrite a function's import() into its own loader.
      await page.evaluate(`(async () => {
        const sdk = await import('/sdk/ecg-tmp-sdk.js');
        const options = { model: 'transformer', device: 'wasm', edgeUrl: ${JSON.stringify(edgeUrl)} };
        const ecg = Float32Array.from(${JSON.stringify([...samples[SAMPLE]!.ecg])});
        const main = await sdk.createReconstructor(options);
        const worker = await sdk.createReconstructor({ ...options, proxy: true });
        await main.reconstruct(ecg);
        for await (const _ of worker.stream(ecg));
        const timed = async (run) => { const t = performance.now(); await run(); return performance.now() - t; };
        window.sdkAlone = {
          time: async () => [
            await timed(() => main.reconstruct(ecg)),
            await timed(async () => { for await (const _ of main.stream(ecg)); }),
            await timed(async () => { for await (const _ of worker.stream(ecg)); }),
          ],
          dispose: () => Promise.all([main.dispose(), worker.dispose()]),
        };
      })()`);
      const rounds: { page: number; decode: number; sdk: number; sdkStream: number; sdkWorker: number }[] =
        [];
      const warm: { ms: number; draw: boolean }[][] = [];
      for (let round = 0; round < 3; round++) {
        const again = await reconstruct(page, { model: 'transformer', device: 'wasm' });
        warm.push(await lastRunLongTasks(page));
        const decode = await page.evaluate(
          () => performance.getEntriesByName('ecg-tmp:decode').at(-1)?.duration ?? Number.NaN,
        );
        const [sdk, sdkStream, sdkWorker] =
          await page.evaluate<[number, number, number]>('(window.sdkAlone.time())');
        rounds.push({ page: Number(again.reconstructMs), decode, sdk, sdkStream, sdkWorker });
      }
      await page.evaluate('(window.sdkAlone.dispose())');
      const median = (key: keyof (typeof rounds)[number]) =>
        rounds.map((r) => r[key]).sort((a, b) => a - b)[1]!;
      // The page's figure (the streamed decode it shows) against the SDK's own stream in the same engine,
      // its worker with one ORT thread: what the demo's drawing and relaying add.
      const ratio = median('decode') / median('sdkWorker');
      const tasks = (run: { ms: number; draw: boolean }[]) => {
        const draws = run.filter((t) => t.draw).map((t) => t.ms.toFixed(0));
        const other = run.filter((t) => !t.draw).map((t) => t.ms.toFixed(0));
        return `${run.length} long tasks (redraws: [${draws.join(', ')}] ms; others: [${other.join(', ')}] ms)`;
      };
      const ms = (v: number) => v.toFixed(0);
      console.log(
        `demo transformer on WASM (Chromium): first run ${ms(Number(result.reconstructMs))} ms, ${tasks(first)}; ` +
          `then, medians of 3 rounds: the page ${ms(median('page'))} ms to the result drawn, its streamed decode ` +
          `${ms(median('decode'))} ms (the figure it shows), ${warm.map(tasks).join(' / ')}; SDK alone ` +
          `${ms(median('sdk'))} ms (streamed ${ms(median('sdkStream'))} ms; streamed in its worker ` +
          `${ms(median('sdkWorker'))} ms); ratio ${ratio.toFixed(2)} (to the SDK's own stream on the main ` +
          `thread ${(median('decode') / median('sdkStream')).toFixed(2)}; result drawn to reconstruct() ` +
          `${(median('page') / median('sdk')).toFixed(2)})`,
      );
      // Before the page drew once per frame with incremental charts: ratio 22.5, 52 long tasks (one per
      // segment and more). The history of the figures below is in packages/demo/README.md ("Speed").
      // Goal (issue 18): the page's figure within 1.5× of the SDK's own. Compared like with like: the
      // demo runs the SDK in its worker with one ORT thread, so that the page keeps a core to draw on and
      // has no long task; on the main thread with two threads the SDK alone is faster (116–139 ms against
      // 146–175 ms in its worker on 2 cores) but its decoder steps are the page's tasks of 45–216 ms.
      // Medians of 3 rounds, as a busy machine swings single runs ×2 (one CI run here: 1.7 in one round).
      expect(ratio).toBeLessThanOrEqual(1.5);
      // The whole run to the result drawn (with the last redraw and the maps) against the SDK's
      // reconstruct() on the main thread: logged, held loosely.
      expect(median('page') / median('sdk')).toBeLessThan(4);
      for (const second of warm) {
        expect(second.filter((t) => !t.draw).length).toBeLessThanOrEqual(3);
        expect(second.length).toBeLessThanOrEqual(3);
      }
      expect(first.filter((t) => !t.draw).length).toBeLessThanOrEqual(4);
      const expected = await sdkScore('transformer', samples[SAMPLE]!.ecg, samples[SAMPLE]!.tmp);
      expect(Number(result.r2)).toBeCloseTo(expected.r2, 4);
      // Its manifest's spread across ECGs: below half the truth's, the page says the reconstruction is
      // mostly the average heart the model learned.
      const spread = (await stableManifestOf('transformer')).metrics.limited?.spread;
      const low = spread !== undefined && spread < 0.5;
      expect(await page.isVisible('#model-warning')).toBe(low);
      if (low) expect(await page.textContent('#model-warning')).toContain('average heart it learned');
      // The stable Transformer reconstructs rather than drawing a flat line (0.1.1 scored R² −14.8 here).
      expect(expected.r2).toBeGreaterThan(0);
      // docs/transformer.png is picked from this one.
      await page.screenshot({
        path: join(ARTIFACTS, 'transformer.png'),
        fullPage: true,
        clip: { x: 0, y: 0, width: 1280, height: 1560 },
      });
    }, 120_000);

    it('shows why an upload is refused, and scores an uploaded CSV + VmData like the sample', async () => {
      await page.setInputFiles('#upload', {
        name: 'broken.npy',
        mimeType: 'application/octet-stream',
        buffer: Buffer.from('hello'),
      });
      await expect.poll(() => page.textContent('#message')).toContain('not a .npy file');
      expect(await page.getAttribute('#message', 'class')).toContain('error');
      await page.screenshot({ path: join(ARTIFACTS, 'upload-error.png') });

      await page.setInputFiles('#upload', {
        name: 'short.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from('1,2,3\n4,5,6\n'),
      });
      await expect.poll(() => page.textContent('#message')).toContain('2 rows × 3 columns');

      // The sample again, as a user would upload it: a time-major 12-column CSV and its VmData (500 × 75).
      const sample = samples[SAMPLE]!;
      const csv = Array.from({ length: N_STEPS }, (_, t) =>
        Array.from({ length: 12 }, (_, l) => sample.ecg[l * N_STEPS + t]!.toPrecision(9)).join(','),
      );
      const vm = new Float32Array(N_STEPS * N_SITES);
      for (let s = 0; s < N_SITES; s++)
        for (let t = 0; t < N_STEPS; t++) vm[t * N_SITES + s] = sample.tmp[s * N_STEPS + t]!;
      await page.setInputFiles('#upload', [
        {
          name: 'ecg.csv',
          mimeType: 'text/csv',
          buffer: Buffer.from(['I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6', ...csv].join('\n')),
        },
        {
          name: 'VmData_sample.npy',
          mimeType: 'application/octet-stream',
          buffer: Buffer.from(encodeNpy(vm, [N_STEPS, N_SITES])),
        },
      ]);
      await expect.poll(() => page.textContent('#message')).toContain('truth from VmData_sample.npy');
      const result = await reconstruct(page, { model: 'cnn-lstm', device: 'wasm' });
      const expected = await sdkScore('cnn-lstm', sample.ecg, sample.tmp);
      expect(Number(result.mae)).toBeCloseTo(expected.mae, 6);
      expect(errors).toEqual([]);
    }, 120_000);

    it('warns in plain language when the ECG is unlike the training ECGs (a manifest with statistics)', async () => {
      // No shipped model has statistics yet: the edge's manifest is served with statistics fitted here on
      // simulated windows (seed 11, 120 windows, as the SDK's tests), everything else as the edge sends it.
      const sim = createSimulator();
      const stats = fitDistribution(
        Array.from({ length: 120 }, (_, i) =>
          ecgFeatures(leadsFromElectrodes(sim.simulate(11, i).electrodes, N_STEPS)),
        ),
      );
      const scoped = await browser.newContext({ serviceWorkers: 'block' });
      try {
        await scoped.route(`${edgeUrl}/v1/models/cnn-lstm/versions/**`, async (route) => {
          const res = await route.fetch();
          await route.fulfill({ response: res, json: { ...(await res.json()), inDistribution: stats } });
        });
        const { page: fitted, errors: fittedErrors } = await openPage(scoped);
        const sample = samples[SAMPLE]!;
        const upload = async (name: string, ecg: Float32Array) => {
          const rows = Array.from({ length: N_STEPS }, (_, t) =>
            Array.from({ length: 12 }, (_, l) => ecg[l * N_STEPS + t]!.toPrecision(9)).join(','),
          );
          await fitted.setInputFiles('#upload', {
            name,
            mimeType: 'text/csv',
            buffer: Buffer.from(['I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6', ...rows].join('\n')),
          });
          await expect.poll(() => fitted.textContent('#message')).toContain(`Loaded ${name}`);
        };
        // µV read as mV: every amplitude 1000× the training ECGs'.
        const scaled = sample.ecg.map((v) => v * 1000);
        await upload('microvolts.csv', scaled);
        const far = await reconstruct(fitted, { model: 'cnn-lstm', device: 'wasm' });
        expect(far, far.error).toMatchObject({ state: 'done', backend: 'wasm' });
        const farCheck = checkInDistribution(scaled, stats);
        expect(farCheck.status).toBe('out-of-range');
        await expectDistributionShown(fitted, farCheck);
        expect(await fitted.textContent('#distribution-warning')).toMatch(
          /^Unlike the ECGs this model was trained on: .*Do not rely on this reconstruction\.$/,
        );
        await fitted.screenshot({ path: join(ARTIFACTS, 'out-of-range.png'), fullPage: true });

        // The sample itself: what core says of it, and no warning unless that is unusual or out of range.
        await fitted.selectOption('#sample', String(SAMPLE));
        await reconstruct(fitted, { model: 'cnn-lstm', device: 'wasm' });
        await expectDistributionShown(fitted, checkInDistribution(sample.ecg, stats));
        expect(fittedErrors).toEqual([]);
      } finally {
        await scoped.close();
      }
    }, 150_000);

    it('takes a real recording (PTB s0010_re, .hea + .dat): 13 beats on the strip; a picked beat reconstructs as the SDK does', async () => {
      const real = join(ROOT, 'packages/simulator/assets/real-ecg');
      const [hea, dat] = await Promise.all(
        ['s0010_re.hea', 's0010_re.dat'].map((f) => readFile(join(real, f))),
      );
      await page.setInputFiles('#upload', [
        { name: 's0010_re.hea', mimeType: 'text/plain', buffer: hea! },
        { name: 's0010_re.dat', mimeType: 'application/octet-stream', buffer: dat! },
      ]);
      await expect.poll(() => page.getAttribute('#recording', 'data-beats')).toBe('13');
      expect(await page.getAttribute('#recording', 'data-skipped')).toBe('0');
      expect(await page.isVisible('#strip-chart canvas')).toBe(true);
      expect(await page.locator('#beat option').count()).toBe(13);
      expect(await page.textContent('#recording-summary')).toContain(
        's0010_re.hea: 10.0 s at 1000 Hz; 13 beats',
      );

      await page.selectOption('#beat', '2');
      expect(await page.textContent('#input-name')).toContain('beat 3 of 13');
      const result = await reconstruct(page, { model: 'cnn-lstm', device: 'wasm' });
      expect(result, result.error).toMatchObject({ state: 'done', backend: 'wasm' });
      expect(await page.textContent('#mae')).toBe('no ground truth');

      // The same beat through the SDK in Node: parseRecording, reconstructRecording, its third beat.
      const r = await createReconstructor({
        model: 'cnn-lstm',
        edgeUrl,
        device: 'wasm',
        cache: memoryStore(),
      });
      try {
        const recording = await parseRecording([
          new File([new Uint8Array(hea!)], 's0010_re.hea'),
          new File([new Uint8Array(dat!)], 's0010_re.dat'),
        ]);
        let times: number[] | undefined;
        let check: InDistribution | undefined;
        for await (const e of reconstructRecording(recording, { reconstructor: r })) {
          if (e.status === 'beat' && e.index === 2) {
            times = [...e.activationMs].filter((v) => v >= 0).sort((a, b) => a - b);
            check = e.inDistribution;
          }
        }
        expect(times!.length).toBeGreaterThan(0);
        expect(Number(result.activationMedian)).toBe(times![Math.floor(times!.length / 2)]);
        await expectDistributionShown(page, check!);
      } finally {
        await r.dispose();
      }
      await page.screenshot({ path: join(ARTIFACTS, 'recording.png'), fullPage: true });

      await page.setInputFiles('#upload', { name: 's0010_re.hea', mimeType: 'text/plain', buffer: hea! });
      await expect.poll(() => page.textContent('#message')).toContain('names the data file s0010_re.dat');
      expect(errors).toEqual([]);
    }, 150_000);

    it('replays the recording in real time through reconstructLive: every beat reconstructed soon after its window', async () => {
      const real = join(ROOT, 'packages/simulator/assets/real-ecg');
      await page.setInputFiles(
        '#upload',
        ['s0010_re.hea', 's0010_re.dat'].map((f) => join(real, f)),
      );
      await expect.poll(() => page.getAttribute('#recording', 'data-beats')).toBe('13');
      await page.selectOption('#model', 'cnn-lstm');
      await page.selectOption('#device', 'wasm');
      await page.click('#replay');
      await page.waitForFunction(
        () => (document.getElementById('recording') as HTMLElement).dataset.replay === 'done',
        null,
        {
          timeout: 60_000,
          polling: 100,
        },
      );
      const replayed = await page.evaluate(() => ({
        ...(document.getElementById('recording') as HTMLElement).dataset,
      }));
      expect(replayed.replayed).toBe('13');
      // Reported, not held to a number: the machine's load decides it. At most a 100 ms hop, a 40 ms
      // block, the extraction and one reconstruction when the page keeps up.
      console.log(
        `demo replay (Chromium, cnn-lstm on WASM, 40 ms blocks): last sample → reconstruction median ${replayed.delayMedian} ms, max ${replayed.delayMax} ms`,
      );
      expect(Number(replayed.delayMedian)).toBeGreaterThan(0);
      expect(await page.textContent('#replay-status')).toMatch(
        /^13 beats live; last sample → reconstruction median \d+ ms/,
      );
      expect(await page.textContent('#input-name')).toContain('live beat 13 (QRS onset 9405 ms)');
      // Each live beat shows its check: 'not checked' exactly when the served manifest has no statistics.
      const manifest = (await (await fetch(`${edgeUrl}/v1/models/cnn-lstm`)).json()) as {
        inDistribution?: unknown;
      };
      const status = (await shown(page)).inDistribution;
      if (manifest.inDistribution === undefined) expect(status).toBe('not-checked');
      else expect(['in-range', 'unusual', 'out-of-range', 'not-measurable']).toContain(status);
      await page.screenshot({ path: join(ARTIFACTS, 'replay.png'), fullPage: true });
      expect(errors).toEqual([]);
    }, 120_000);

    it('reloads and reconstructs with the model blobs blocked: the weights come from Cache Storage', async () => {
      let blocked = 0;
      await context.route('**/v1/blobs/**', (route) => {
        blocked++;
        return route.abort();
      });
      await page.reload();
      await page.waitForSelector('html[data-ready="true"]', { timeout: 30_000 });
      const result = await reconstruct(page, { model: 'cnn-lstm', device: 'wasm', sample: SAMPLE });
      expect(result).toMatchObject({ state: 'done', backend: 'wasm', weights: 'cache' });
      expect(blocked).toBe(0);
      // The block was in force for this page (service worker and all): a blob fetched now fails.
      const sha = await page.evaluate(async (edge) => {
        const res = await fetch(`${edge}/v1/models/cnn-lstm/versions/stable`);
        return ((await res.json()) as { files: { sha256: string }[] }).files[0]!.sha256;
      }, edgeUrl);
      const fetched = await page.evaluate(
        (url) =>
          fetch(url).then(
            () => 'fetched',
            () => 'failed',
          ),
        `${edgeUrl}/v1/blobs/${sha}`,
      );
      expect(fetched).toBe('failed');
      expect(blocked).toBe(1);
      await context.unroute('**/v1/blobs/**');
    }, 120_000);

    it('opens and reconstructs with no network at all after the first visit (service worker + SDK cache)', async () => {
      await context.setOffline(true);
      try {
        await page.reload();
        await page.waitForSelector('html[data-ready="true"]', { timeout: 30_000 });
        // The page came from the service worker; the edge is out of reach.
        expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
        expect(
          await page.evaluate(
            (url) =>
              fetch(url, { cache: 'no-store' }).then(
                () => 'reached',
                () => 'unreachable',
              ),
            `${edgeUrl}/v1/models`,
          ),
        ).toBe('unreachable');
        const result = await reconstruct(page, { model: 'cnn-lstm', device: 'wasm', sample: SAMPLE });
        expect(result, result.error).toMatchObject({ state: 'done', backend: 'wasm', weights: 'cache' });
      } finally {
        await context.setOffline(false);
      }
    }, 120_000);

    it('fits a phone screen', async () => {
      const phone = await browser.newContext({
        viewport: { width: 390, height: 844 },
        isMobile: true,
        hasTouch: true,
      });
      try {
        const { page: small, errors: smallErrors } = await openPage(phone);
        const result = await reconstruct(small, { model: 'cnn-lstm', device: 'wasm', sample: 3 });
        expect(result).toMatchObject({ state: 'done' });
        // Nothing wider than the screen: no sideways scrolling.
        expect(await small.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
        await small.screenshot({ path: join(ARTIFACTS, 'phone.png'), fullPage: true });
        expect(smallErrors).toEqual([]);
      } finally {
        await phone.close();
      }
    }, 120_000);

    it('runs examples/embed.html, the 10-line embedding example, against the same stack', async () => {
      const embed = await context.newPage();
      await watchCsp(embed);
      await embed.goto(`${demoUrl}/examples/embed.html`);
      await expect
        .poll(() => embed.textContent('#out'), { timeout: 150_000, interval: 250 })
        .toMatch(/^(webgpu|wasm): 75 sites in \d+ ms; first activation \d+ ms$/);
      await embed.close();
    }, 160_000);

    it('sends a CSP, nosniff and cross-origin isolation with every response, and no run above broke the CSP', async ({
      task,
    }) => {
      const paths = [
        '/',
        '/app.js',
        '/app.css',
        '/sw.js',
        '/config.json',
        '/samples.bin',
        '/examples/embed.html',
        '/ort/ort.wasm.min.mjs',
        '/ort/ort-wasm-simd-threaded.jsep.wasm',
        '/no/such/file',
      ];
      const missing: string[] = [];
      let checked = 0;
      for (const path of paths) {
        const res = await fetch(`${demoUrl}${path}`, { method: 'HEAD' });
        const csp = res.headers.get('content-security-policy') ?? '';
        const expected: [string, boolean][] = [
          ['nosniff', res.headers.get('x-content-type-options') === 'nosniff'],
          ['COOP', res.headers.get('cross-origin-opener-policy') === 'same-origin'],
          ['COEP', res.headers.get('cross-origin-embedder-policy') === 'require-corp'],
          ["default-src 'none'", csp.includes("default-src 'none'")],
          ["'wasm-unsafe-eval'", /script-src 'self' 'wasm-unsafe-eval'/.test(csp)],
          ['no unsafe-eval or inline scripts', !/'unsafe-eval'|script-src[^;]*'unsafe-inline'/.test(csp)],
          ['the edge in connect-src', csp.includes(`connect-src 'self' ${new URL(edgeUrl).origin}`)],
          ["frame-ancestors 'none'", csp.includes("frame-ancestors 'none'")],
        ];
        for (const [what, ok] of expected) {
          checked++;
          if (!ok) missing.push(`${path}: ${what}`);
        }
      }
      reportFigure(task, {
        area: 'abuse and access',
        what: 'demo page server: CSP, nosniff and isolation headers; CSP violations during the browser runs',
        count: checked,
        unit: 'headers checked',
        failures: missing.length + cspViolations.length,
        note: `${paths.length} paths; ${cspViolations.length} CSP violations across WebGPU, WASM, streamed, upload, offline, phone and embed runs`,
      });
      expect(missing).toEqual([]);
      expect(cspViolations).toEqual([]);
    });

    it('stops the edge and the page server on Ctrl-C, exiting 0', async () => {
      await browser.close();
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      expect(await exited, stderr).toBe(0);
      expect(stderr).toContain('start: SIGINT: stopping the edge and the demo');
      for (const url of [demoUrl, `${edgeUrl}/v2/health/live`])
        expect(
          await fetch(url).then(
            () => 'up',
            () => 'down',
          ),
        ).toBe('down');
    }, 60_000);
  },
);
