/**
 * @module
 * `npm run build -w @ecg-tmp/client-sdk` — what the npm packages ship, built from the TypeScript source:
 *
 *   packages/core/dist/        @ecg-tmp/core: one ES module per source file, .d.ts, source maps
 *   packages/client-sdk/dist/  @ecg-tmp/client-sdk: the same, plus ecg-tmp-sdk.js (+ .map), the SDK as
 *                              one ES module with @ecg-tmp/core and zod/mini inside, for a plain
 *                              `<script type="module">` without a bundler, and ecg-tmp-sdk-worker.js
 *                              beside it, the worker it runs WASM reconstructions in with `proxy: true`
 *
 * Inside this repository nothing needs the build: tsconfig.base.json's `paths` send the packages to
 * their src/ for tsc, tsx, esbuild, wrangler and vitest. `packPackages()` builds into a staging folder
 * and runs `npm pack` there, so packing never rewrites the dist/ a running browser test serves.
 *
 * onnxruntime-web is left out of ecg-tmp-sdk.js on purpose: the bundle keeps the bare imports
 * `onnxruntime-web/webgpu` and `onnxruntime-web/wasm`, which the page resolves with an import map to the
 * files of node_modules/onnxruntime-web/dist/ it serves (ort.webgpu.min.mjs, ort.wasm.min.mjs). So
 *   - a page that only calls the edge never downloads ORT (the SDK imports it on first local use);
 *   - the WebGPU and WASM builds are not both inlined (≈ 2 × 400 kB of JS);
 *   - ORT finds its .wasm/.mjs beside its own module, so `wasmPaths` is optional, and the app can pin
 *     and cache ORT as it likes.
 */

import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isMainModule } from '@ecg-tmp/core/node';
import { type BuildOptions, build } from 'esbuild';
import { WORKER_FILE } from '../src/backends/worker-file.ts';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const CORE_DIR = join(PACKAGE_DIR, '..', 'core');
export const BUNDLE = join(PACKAGE_DIR, 'dist', 'ecg-tmp-sdk.js');
/** The bare specifiers the bundle leaves for the page's import map. */
export const ORT_IMPORTS = {
  'onnxruntime-web/webgpu': 'ort.webgpu.min.mjs',
  'onnxruntime-web/wasm': 'ort.wasm.min.mjs',
} as const;

const run = promisify(execFile);
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/**
 * Writes dist/ecg-tmp-sdk.js and returns its path and size in bytes.
 * @example
 * const { path, bytes } = await buildBundle();
 */
export async function buildBundle(outfile = BUNDLE): Promise<{ path: string; bytes: number }> {
  await Promise.all([
    build({
      ...BUNDLE_OPTIONS,
      entryPoints: [join(PACKAGE_DIR, 'src', 'index.ts')],
      outfile,
      define: WORKER_DEFINE,
    }),
    buildWorker(join(dirname(outfile), WORKER_FILE)),
  ]);
  return { path: outfile, bytes: (await stat(outfile)).size };
}

/** What every browser bundle of the SDK is built with. */
export const BUNDLE_OPTIONS = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Top-level await and class fields as written; every browser with WebGPU or wasm threads has ES2022.
  target: 'es2022',
  external: Object.keys(ORT_IMPORTS),
  minify: true,
  sourcemap: true,
  legalComments: 'eof',
  logLevel: 'warning',
} as const satisfies BuildOptions;

/**
 * Tells a bundle of the SDK that the worker script (buildWorker) lies beside it as WORKER_FILE, so
 * `proxy: true` runs reconstructions there (src/backends/worker.ts). A bundle of an app that embeds
 * the SDK (the demo's app.js) is built with it too, the worker written beside that bundle.
 */
export const WORKER_DEFINE = { __ECG_TMP_SDK_WORKER_FILE__: JSON.stringify(WORKER_FILE) };

/**
 * Writes the SDK's worker script (src/worker.ts, onnxruntime-web left external: the worker imports it
 * from the URL the page resolves) to `outfile`.
 */
export async function buildWorker(outfile: string): Promise<void> {
  await build({ ...BUNDLE_OPTIONS, entryPoints: [join(PACKAGE_DIR, 'src', 'worker.ts')], outfile });
}

/**
 * Compiles @ecg-tmp/core into `out.core` and the SDK into `out.sdk` (emptied first), the SDK's
 * declarations against the core declarations just written, and writes the one-file bundle beside them.
 * `out.core` must find zod in a node_modules above it (core's .d.ts import its types), as the
 * repository's folders and packPackages' staging folder do.
 * @example
 * await buildPackages(); // packages/core/dist, packages/client-sdk/dist
 */
export async function buildPackages(
  out: { core: string; sdk: string } = { core: join(CORE_DIR, 'dist'), sdk: join(PACKAGE_DIR, 'dist') },
): Promise<void> {
  await Promise.all([
    rm(out.core, { recursive: true, force: true }),
    rm(out.sdk, { recursive: true, force: true }),
  ]);
  await tsc(join(CORE_DIR, 'tsconfig.build.json'), out.core);
  // The SDK's .d.ts keep `from '@ecg-tmp/core'`; while compiling, that name must mean the core just
  // built (not its source, which tsc would then try to emit too).
  const config = await mkdtemp(join(tmpdir(), 'ecg-tmp-build-'));
  try {
    const path = join(config, 'tsconfig.json');
    const paths = { '@ecg-tmp/core': [join(out.core, 'index.d.ts')] };
    await writeFile(
      path,
      JSON.stringify({ extends: join(PACKAGE_DIR, 'tsconfig.build.json'), compilerOptions: { paths } }),
    );
    await tsc(path, out.sdk);
  } finally {
    await rm(config, { recursive: true, force: true });
  }
  await buildBundle(join(out.sdk, 'ecg-tmp-sdk.js'));
}

async function tsc(project: string, outDir: string): Promise<void> {
  try {
    await run(process.execPath, [TSC, '-p', project, '--outDir', outDir]);
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`tsc -p ${project} failed:\n${stdout}${stderr}`, { cause: err });
  }
  // tsc rewrites the sources' `./x.ts` imports to `./x.js` in the JavaScript only; the .d.ts keep `.ts`,
  // which TypeScript before 5.0 refuses. Give the declarations the specifiers the JavaScript has.
  const files = (await readdir(outDir, { recursive: true })).filter((f) => f.endsWith('.d.ts'));
  for (const file of files) {
    const path = join(outDir, file);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(/((?:from |import\()'\.{1,2}\/[^']+)\.ts'/g, "$1.js'"));
  }
}

/**
 * Builds both packages into a staging folder and `npm pack`s them into `destination`: the tarballs
 * `npm publish` would upload, made without touching packages/*\/dist.
 * @example
 * const { core, sdk } = await packPackages('/tmp/out'); // paths of the two .tgz files
 */
export async function packPackages(destination: string): Promise<{ core: string; sdk: string }> {
  const stage = await mkdtemp(join(tmpdir(), 'ecg-tmp-stage-'));
  try {
    // The staged core's .d.ts import zod's; tsc finds them through the workspace's node_modules.
    await symlink(join(PACKAGE_DIR, '..', '..', 'node_modules'), join(stage, 'node_modules'), 'dir');
    const dirs = { core: join(stage, 'core'), sdk: join(stage, 'client-sdk') };
    for (const [from, to] of [
      [CORE_DIR, dirs.core],
      [PACKAGE_DIR, dirs.sdk],
    ] as const) {
      await mkdir(to, { recursive: true });
      for (const file of ['package.json', 'README.md']) await copyFile(join(from, file), join(to, file));
    }
    await buildPackages({ core: join(dirs.core, 'dist'), sdk: join(dirs.sdk, 'dist') });
    await mkdir(destination, { recursive: true });
    const pack = async (dir: string) => {
      // Built above: the packages' `prepack` (npm run build) has no sources to build from here.
      const args = ['pack', '--json', '--ignore-scripts', '--pack-destination', destination];
      const { stdout } = await run('npm', args, { cwd: dir });
      return join(destination, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
    };
    return { core: await pack(dirs.core), sdk: await pack(dirs.sdk) };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

if (isMainModule(import.meta.url)) {
  await buildPackages();
  const { size } = await stat(BUNDLE);
  process.stdout.write(
    `wrote packages/core/dist and packages/client-sdk/dist (ecg-tmp-sdk.js ${(size / 1024).toFixed(1)} KiB; onnxruntime-web left external)\n`,
  );
}
