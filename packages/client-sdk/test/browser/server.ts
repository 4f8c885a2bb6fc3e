/**
 * @module
 * The static server the browser tests load their page from, on 127.0.0.1 and a free port:
 *   /               the test page: an import map for onnxruntime-web, then /page.js
 *                   (/?no-import-map: without it, as a page that forgot it)
 *   /page.js        page.ts bundled with @ecg-tmp/core (the SDK and ORT left to the page)
 *   /sdk/…          packages/client-sdk/dist/ (the built SDK bundle, as an app would serve it)
 *   /ort/…          onnxruntime-web's dist/ (its ES modules, .wasm and worker .mjs files)
 * Every response is cross-origin isolated (COOP same-origin + COEP require-corp), so the page gets
 * SharedArrayBuffer and ORT's WebAssembly threads. The edge is another origin; its responses pass COEP
 * through CORS (it sends `Access-Control-Allow-Origin: *`), as every SDK request is a CORS fetch.
 */

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUNDLE, ORT_IMPORTS } from '../../scripts/build.ts';

export const ORT_DIST = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));
const SDK_DIST = dirname(BUNDLE);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
};

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};
/**
 * ORT's .wasm is 14–27 MB: cached, a later page skips the download and Chromium reuses the compiled
 * module instead of compiling it again (seconds on two busy cores). Nothing here changes while the
 * server runs, and each browser launch starts with an empty cache.
 */
const CACHEABLE = { 'Cache-Control': 'public, max-age=3600' };
const UNCACHED = { 'Cache-Control': 'no-store' };

/** The page; without the import map (`/?no-import-map`) onnxruntime-web cannot be imported. */
function indexHtml(importMap: boolean): string {
  const imports = Object.fromEntries(
    Object.entries(ORT_IMPORTS).map(([spec, file]) => [spec, `/ort/${file}`]),
  );
  return [
    '<!doctype html>',
    '<meta charset="utf-8">',
    '<title>@ecg-tmp/client-sdk test page</title>',
    '<link rel="icon" href="data:,">',
    ...(importMap ? [`<script type="importmap">${JSON.stringify({ imports })}</script>`] : []),
    '<script type="module" src="/page.js"></script>',
  ].join('\n');
}

async function pageScript(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('page.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: Object.keys(ORT_IMPORTS),
    logLevel: 'error',
  });
  return result.outputFiles[0]!.text;
}

/** A file under `dir` for a URL path under it, or undefined for a path that climbs out. */
function under(dir: string, rest: string): string | undefined {
  const path = normalize(join(dir, decodeURIComponent(rest)));
  return path.startsWith(dir) ? path : undefined;
}

export interface PageServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the test page; the SDK bundle must have been built (scripts/build.ts).
 * @example
 * const server = await startPageServer();
 * await page.goto(server.url);
 */
export async function startPageServer(): Promise<PageServer> {
  const script = await pageScript();
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    let file: string | undefined;
    let body: string | Buffer | undefined;
    if (path === '/') body = indexHtml(!url.searchParams.has('no-import-map'));
    else if (path === '/page.js') body = script;
    else if (path.startsWith('/sdk/')) file = under(SDK_DIST, path.slice(5));
    else if (path.startsWith('/ort/')) file = under(ORT_DIST, path.slice(5));
    if (file !== undefined) body = await readFile(file).catch(() => undefined);
    if (body === undefined) {
      res.writeHead(404, { ...ISOLATION, ...UNCACHED }).end();
      return;
    }
    const type = path === '/' ? TYPES['.html']! : (TYPES[extname(path)] ?? 'application/octet-stream');
    res
      .writeHead(200, { ...ISOLATION, ...(file === undefined ? UNCACHED : CACHEABLE), 'Content-Type': type })
      .end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
