/**
 * @module
 * Everything a browser test or benchmarks/sdk.ts needs, started together: the SDK bundle built, a real
 * edge (`npm start`), the page server, and headless Chromium (the system's /usr/bin/chromium through
 * playwright-core) with WebGPU on SwiftShader — Vulkan on the CPU, so these machines need no GPU, and
 * WebGPU timings here say nothing about a real GPU.
 */

import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildBundle } from '../../scripts/build.ts';
import type { HarnessApi, HarnessGlobal } from './api.ts';
import { type Edge, startEdge } from './edge.ts';
import { countGpuBuffers } from './gpu-buffers.ts';
import { type PageServer, startPageServer } from './server.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = () => existsSync(CHROMIUM);

const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--disable-gpu-sandbox',
  // SwiftShader compiles shaders slowly; without Dawn's robustness transform and workgroup zero-init a
  // model's first run is ~4× quicker here (cnn: 21 s → 5 s). Either only matters to a shader that reads
  // out of bounds or uninitialised workgroup memory, which would then fail the parity tests, not pass
  // them. WebGPU validation stays on.
  '--enable-dawn-features=disable_robustness,disable_workgroup_init',
];

export interface Harness {
  readonly edge: Edge;
  readonly server: PageServer;
  readonly browser: Browser;
  /** A fresh context (own Cache Storage) that counts GPU buffers on every page it opens. */
  newContext(): Promise<BrowserContext>;
  /** Opens the test page in `context` and waits until `globalThis.harness` is there. */
  openPage(context: BrowserContext, options?: { importMap?: boolean; host?: string }): Promise<Page>;
  close(): Promise<void>;
}

/** Calls one HarnessApi method on the page. */
export function call<K extends keyof HarnessApi>(
  page: Page,
  method: K,
  ...args: Parameters<HarnessApi[K]>
): Promise<Awaited<ReturnType<HarnessApi[K]>>> {
  return page.evaluate(
    ([m, a]) => {
      const api = (globalThis as unknown as HarnessGlobal).harness;
      return (api[m] as (...xs: unknown[]) => unknown)(...a);
    },
    [method, args] as const,
  ) as Promise<Awaited<ReturnType<HarnessApi[K]>>>;
}

/**
 * @example
 * const h = await startHarness();
 * const page = await h.openPage(await h.newContext());
 * const opened = await call(page, 'open', { model: 'cnn', device: 'auto', edgeUrl: h.edge.url });
 */
export async function startHarness(
  options: {
    log?: (line: string) => void;
    /** More Chromium flags (e.g. `--host-resolver-rules` to reach the page by a name that is not secure). */
    chromiumArgs?: readonly string[];
  } = {},
): Promise<Harness> {
  const log = options.log ?? (() => {});
  await buildBundle();
  const [edge, server, browser] = await Promise.all([
    startEdge(),
    startPageServer(),
    chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...(options.chromiumArgs ?? [])] }),
  ]);
  log(`edge on ${edge.url}, page on ${server.url}, ${CHROMIUM} ${browser.version()}`);
  return {
    edge,
    server,
    browser,
    async newContext() {
      const context = await browser.newContext();
      await context.addInitScript(countGpuBuffers);
      return context;
    },
    async openPage(context, { importMap = true, host } = {}) {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') log(`page: ${m.text()}`);
      });
      const url = new URL(server.url);
      if (host !== undefined) url.hostname = host;
      await page.goto(importMap ? url.href : `${url.href}?no-import-map`);
      await page
        .waitForFunction(
          () => (globalThis as unknown as Partial<HarnessGlobal>).harness !== undefined,
          null,
          {
            timeout: 30_000,
          },
        )
        .catch((err: unknown) => {
          throw new Error(`the test page did not start: ${errors.join('; ') || (err as Error).message}`);
        });
      return page;
    },
    async close() {
      await Promise.allSettled([browser.close(), server.close(), edge.stop()]);
    },
  };
}
