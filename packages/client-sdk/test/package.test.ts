/**
 * The npm packages as a web developer gets them: @ecg-tmp/core and @ecg-tmp/client-sdk packed
 * (scripts/build.ts `packPackages`, i.e. `npm pack` of what `npm run build` writes), installed with a plain
 * `npm install` of the two tarballs into an app in a temporary folder outside the repository (zod and
 * onnxruntime-web come from the registry), and used there:
 *   1. plain Node, no tsx, reconstructs a sample on WASM from the app's self-hosted models/ folder;
 *   2. a strict TypeScript file using the public API type-checks against the shipped .d.ts;
 *   3. esbuild, as a web app uses it (onnxruntime-web resolved from node_modules, no import map), builds
 *      a page that reconstructs the same sample in headless Chromium;
 *   4. the SDK's own JavaScript with core, minified and gzipped, without onnxruntime-web, is ≤ 50 kB.
 * Each result is compared with the SDK from source in this process (the cnn-lstm stable, fp32, WASM).
 * Inside the repository the packages resolve to their source through tsconfig.base.json's `paths`, which
 * must name each entry the packages export.
 */

import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import aliases from '../../../models/aliases.json' with { type: 'json' };
import { packPackages } from '../scripts/build.ts';
import { createReconstructor, memoryStore } from '../src/index.ts';
import { CHROMIUM, hasChromium } from './browser/harness.ts';

const ROOT = join(import.meta.dirname, '../../..');
const MODEL = 'cnn-lstm';
const VERSION = aliases[MODEL].stable;
/** The first ECG of the edge's inference fixtures: 12 × 500 little-endian float32, mV. */
const ECG_FILE = join(ROOT, 'packages/edge-api/test/fixtures/ecg.bin');
const SIZE_LIMIT = 50_000;

const run = promisify(execFile);

/** A reconstruction script as an app would write it: plain ES module JavaScript, run by plain Node. */
const NODE_SCRIPT = `
import { readFile, writeFile } from 'node:fs/promises';
import { createReconstructor, memoryStore } from '@ecg-tmp/client-sdk';
import { N_LEADS, N_STEPS } from '@ecg-tmp/core';
import { readNpyFile } from '@ecg-tmp/core/node';

if (typeof readNpyFile !== 'function') throw new Error('@ecg-tmp/core/node has no readNpyFile');
const [modelsUrl, model] = process.argv.slice(2);
const ecg = new Float32Array(new Uint8Array(await readFile('ecg.bin')).buffer, 0, N_LEADS * N_STEPS);
const r = await createReconstructor({ model, modelsUrl, device: 'wasm', cache: memoryStore() });
const { tmp } = await r.reconstruct(ecg);
await writeFile('tmp.bin', new Uint8Array(tmp.buffer, tmp.byteOffset, tmp.byteLength));
console.log(JSON.stringify({ backend: r.backend, version: r.version }));
await r.dispose();
`;

/** Uses the public API with its types; the @ts-expect-error lines fail if a type degrades to `any`. */
const TS_CHECK = `
import {
  activationTimes,
  type Backend,
  createReconstructor,
  type ProgressEvent,
  type BeatEvent,
  parseRecording,
  type Reconstruction,
  ReconstructorError,
  type Recording,
  RecordingError,
  reconstructLive,
  reconstructRecording,
  memoryStore,
  type SampleBlock,
} from '@ecg-tmp/client-sdk';
import { type Manifest, N_SITES, N_STEPS, parseManifest } from '@ecg-tmp/core';

export async function demo(ecg: Float32Array): Promise<number> {
  const events: ProgressEvent[] = [];
  const r = await createReconstructor({
    model: 'cnn-lstm',
    modelsUrl: '/models',
    device: 'wasm',
    cache: memoryStore(),
    onProgress: (e) => {
      if (e.status === 'download') events.push(e);
    },
  });
  const backend: Backend = r.backend;
  const result: Reconstruction = await r.reconstruct(ecg);
  const [b, sites, steps] = result.shape;
  const times: Int32Array = activationTimes(result.tmp);
  const manifest: Manifest = parseManifest(r.manifest);
  // @ts-expect-error a backend is a string
  const wrong: number = backend;
  // @ts-expect-error 'cuda' is not a device
  await createReconstructor({ model: 'cnn', device: 'cuda' });
  await r.dispose();
  return b * sites * steps + times.length + manifest.parameters + N_SITES * N_STEPS + String(wrong).length;
}

export const isSdkError = (err: unknown): boolean => err instanceof ReconstructorError;

export async function beats(files: File[], blocks: AsyncIterable<SampleBlock>): Promise<number> {
  const recording: Recording = await parseRecording(files, { rate: 500 });
  const r = await createReconstructor({ model: 'cnn', modelsUrl: '/models' });
  let n = 0;
  for await (const e of reconstructRecording(recording, { reconstructor: r, beats: { maxNoise: 0.1 } })) {
    const event: BeatEvent = e;
    if (e.status === 'beat') n += e.activationMs.length + e.tmp.length + (e.rrMs ?? 0);
    else n += e.atMs;
    // @ts-expect-error a skipped beat has no tmp
    if (event.status === 'skipped') n += event.tmp.length;
  }
  for await (const e of reconstructLive(blocks, { reconstructor: r, rate: 500, lookaheadMs: 1000 })) {
    if (e.status === 'beat') n += e.index;
  }
  // @ts-expect-error a live source needs its rate
  reconstructLive(blocks, { reconstructor: r });
  return n;
}

export const isRecordingError = (err: unknown): string | undefined =>
  err instanceof RecordingError ? err.code : undefined;
`;

/** Strict, with the shipped .d.ts checked too; resolved as Node does, or as Vite's templates set it. */
const tsconfig = (resolution: 'NodeNext' | 'Bundler') => ({
  compilerOptions: {
    strict: true,
    target: 'ES2022',
    module: resolution === 'NodeNext' ? 'NodeNext' : 'ESNext',
    moduleResolution: resolution,
    lib: ['ES2023', 'DOM', 'DOM.Iterable'],
    types: [],
    noEmit: true,
    skipLibCheck: false,
  },
  files: ['src/check.ts'],
});

/** The app's page script: what a web app bundles. */
const PAGE = `
import { createReconstructor, memoryStore } from '@ecg-tmp/client-sdk';

globalThis.reconstruct = async (ecg, model) => {
  const r = await createReconstructor({ model, modelsUrl: '/models', device: 'wasm', wasmPaths: '/ort/', cache: memoryStore() });
  const { tmp } = await r.reconstruct(new Float32Array(ecg));
  await r.dispose();
  return { backend: r.backend, tmp: Array.from(tmp) };
};
`;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** A static file server for `dir` on 127.0.0.1, as the app's web server. */
async function serve(dir: string): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    try {
      if (!file.startsWith(dir)) throw new Error('outside');
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('inside the repository', () => {
  it("tsconfig.base.json's paths send every export of core and the SDK to the source of its dist/ file", async () => {
    const base = JSON.parse(await readFile(join(ROOT, 'tsconfig.base.json'), 'utf8'));
    const paths: Record<string, string[]> = base.compilerOptions.paths;
    const expected: Record<string, string[]> = {};
    for (const dir of ['core', 'client-sdk']) {
      const pkg = JSON.parse(await readFile(join(ROOT, 'packages', dir, 'package.json'), 'utf8'));
      for (const [key, target] of Object.entries(pkg.exports as Record<string, { default: string }>)) {
        const source = target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
        expected[pkg.name + key.slice(1)] = [`./packages/${dir}/${source}`];
      }
    }
    expect(paths).toEqual(expected);
  });
});

describe('the packed SDK and core, installed from their tarballs into an app outside the repository', () => {
  let root: string;
  let app: string;
  let web: { url: string; server: Server };
  let ecg: Float32Array;
  let expected: Float32Array;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ecg-tmp-app-'));
    const tarballs = await packPackages(join(root, 'tarballs'));
    app = join(root, 'app');
    await mkdir(join(app, 'src'), { recursive: true });
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', tarballs.core, tarballs.sdk],
      {
        cwd: app,
      },
    );
    // The self-hosted models folder: aliases.json and the stable cnn-lstm, as `modelsUrl` expects.
    const models = join(app, 'public', 'models');
    await cp(join(ROOT, 'models', MODEL, VERSION), join(models, MODEL, VERSION), { recursive: true });
    await writeFile(join(models, 'aliases.json'), JSON.stringify({ [MODEL]: aliases[MODEL] }));
    await cp(ECG_FILE, join(app, 'ecg.bin'));
    web = await serve(join(app, 'public'));

    ecg = new Float32Array(new Uint8Array(await readFile(ECG_FILE)).buffer, 0, 12 * 500);
    const r = await createReconstructor({
      model: MODEL,
      modelsUrl: `${web.url}/models`,
      device: 'wasm',
      cache: memoryStore(),
    });
    expected = (await r.reconstruct(ecg)).tmp;
    await r.dispose();
  }, 600_000);

  afterAll(async () => {
    web?.server.close();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('ships dist/, the README and package.json only, with dependencies a registry can resolve', async () => {
    for (const name of ['core', 'client-sdk']) {
      const pkg = JSON.parse(
        await readFile(join(app, 'node_modules/@ecg-tmp', name, 'package.json'), 'utf8'),
      );
      expect(pkg.private).toBeUndefined();
      expect(pkg.sideEffects).toBe(false);
      for (const range of Object.values({ ...pkg.dependencies, ...pkg.peerDependencies }))
        expect(range).toMatch(/^\^\d+\.\d+\.\d+$/);
      const { stdout } = await run('find', ['.', '-type', 'f'], {
        cwd: join(app, 'node_modules/@ecg-tmp', name),
      });
      const files = stdout.trim().split('\n');
      expect(files).toContain('./README.md');
      expect(
        files.filter((f) => !f.startsWith('./dist/') && f !== './README.md' && f !== './package.json'),
      ).toEqual([]);
      expect(files.some((f) => f.includes('.test.') || f.includes('fixtures'))).toBe(false);
    }
  });

  it('reconstructs on WASM in plain Node (no tsx) from a self-hosted models/ folder', async () => {
    await writeFile(join(app, 'reconstruct.mjs'), NODE_SCRIPT);
    const { NODE_OPTIONS: _, ...env } = process.env;
    const { stdout } = await run(process.execPath, ['reconstruct.mjs', `${web.url}/models`, MODEL], {
      cwd: app,
      env,
    });
    expect(JSON.parse(stdout)).toEqual({ backend: 'wasm', version: VERSION });
    const tmp = new Float32Array(new Uint8Array(await readFile(join(app, 'tmp.bin'))).buffer);
    expect(maxDiff(tmp, expected)).toBeLessThan(1e-4);
  }, 120_000);

  it('type-checks a strict TypeScript file against the shipped .d.ts', async () => {
    await writeFile(join(app, 'src', 'check.ts'), TS_CHECK);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    for (const resolution of ['NodeNext', 'Bundler'] as const) {
      await writeFile(join(app, 'tsconfig.json'), JSON.stringify(tsconfig(resolution)));
      const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).catch(
        (err: { stdout: string }) => ({ stdout: err.stdout }),
      );
      expect(result.stdout, `moduleResolution ${resolution}`).toBe('');
    }
  }, 120_000);

  it('keeps the SDK with core, minified and gzipped, without onnxruntime-web, within 50 kB', async () => {
    await writeFile(join(app, 'src', 'size.js'), "export * from '@ecg-tmp/client-sdk';\n");
    const out = await build({
      entryPoints: [join(app, 'src', 'size.js')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      external: ['onnxruntime-web', 'onnxruntime-web/*'],
      logLevel: 'error',
    });
    const js = out.outputFiles[0]!.contents;
    const gzip = gzipSync(js, { level: 9 }).length;
    console.log(
      `@ecg-tmp/client-sdk + core: ${js.length} B minified, ${gzip} B gzipped (limit ${SIZE_LIMIT})`,
    );
    expect(gzip).toBeLessThanOrEqual(SIZE_LIMIT);
  });

  it.skipIf(!hasChromium())(
    'bundled with esbuild (onnxruntime-web from node_modules, no import map), reconstructs in Chromium',
    async () => {
      const publicDir = join(app, 'public');
      await writeFile(join(app, 'src', 'page.js'), PAGE);
      await build({
        entryPoints: [join(app, 'src', 'page.js')],
        outdir: join(publicDir, 'assets'),
        bundle: true,
        splitting: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        minify: true,
        logLevel: 'error',
      });
      // As the SDK's README says: the app serves ORT's .wasm (and its .mjs) itself and names it in wasmPaths.
      const ortDist = join(app, 'node_modules', 'onnxruntime-web', 'dist');
      await mkdir(join(publicDir, 'ort'));
      for (const file of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs'])
        await cp(join(ortDist, file), join(publicDir, 'ort', file));
      await writeFile(
        join(publicDir, 'index.html'),
        '<!doctype html><meta charset="utf-8"><title>app</title><script type="module" src="/assets/page.js"></script>',
      );
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless=new', '--no-sandbox'],
      });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (err) => errors.push(err.message));
        await page.goto(`${web.url}/`);
        await page.waitForFunction(() => 'reconstruct' in globalThis);
        const result = await page.evaluate(
          ([input, model]) =>
            (
              globalThis as unknown as {
                reconstruct(e: number[], m: string): Promise<{ backend: string; tmp: number[] }>;
              }
            ).reconstruct(input, model),
          [Array.from(ecg), MODEL] as const,
        );
        expect(errors).toEqual([]);
        expect(result.backend).toBe('wasm');
        expect(maxDiff(result.tmp, expected)).toBeLessThan(1e-4);
      } finally {
        await browser.close();
      }
    },
    180_000,
  );
});
