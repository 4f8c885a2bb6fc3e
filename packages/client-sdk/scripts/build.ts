/**
 * @module
 * `npm run build -w @ecg-tmp/client-sdk` — the SDK as one ES module for a plain
 * `<script type="module">`: src/index.ts with @ecg-tmp/core and zod bundled in, written to
 * dist/ecg-tmp-sdk.js (+ .map).
 *
 * onnxruntime-web is left out on purpose: the bundle keeps the bare imports `onnxruntime-web/webgpu` and
 * `onnxruntime-web/wasm`, which the page resolves with an import map to the files of
 * node_modules/onnxruntime-web/dist/ it serves (ort.webgpu.min.mjs, ort.wasm.min.mjs). So
 *   - a page that only calls the edge never downloads ORT (the SDK imports it on first local use);
 *   - the WebGPU and WASM builds are not both inlined (≈ 2 × 400 kB of JS);
 *   - ORT finds its .wasm/.mjs beside its own module, so `wasmPaths` is optional, and the app can pin
 *     and cache ORT as it likes.
 * Bundlers (Vite, webpack, esbuild) should import the package's src/index.ts instead and resolve ORT
 * themselves.
 */

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE = join(PACKAGE_DIR, 'dist', 'ecg-tmp-sdk.js');
/** The bare specifiers the bundle leaves for the page's import map. */
export const ORT_IMPORTS = {
  'onnxruntime-web/webgpu': 'ort.webgpu.min.mjs',
  'onnxruntime-web/wasm': 'ort.wasm.min.mjs',
} as const;

/**
 * Writes dist/ecg-tmp-sdk.js and returns its path and size in bytes.
 * @example
 * const { path, bytes } = await buildBundle();
 */
export async function buildBundle(outfile = BUNDLE): Promise<{ path: string; bytes: number }> {
  await build({
    entryPoints: [join(PACKAGE_DIR, 'src', 'index.ts')],
    outfile,
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
  });
  return { path: outfile, bytes: (await stat(outfile)).size };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { path, bytes } = await buildBundle();
  process.stdout.write(`wrote ${path} (${(bytes / 1024).toFixed(1)} KiB; onnxruntime-web left external)\n`);
}
