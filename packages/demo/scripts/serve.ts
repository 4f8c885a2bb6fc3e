/**
 * @module
 * The demo's static server (Node's http, no framework), on 127.0.0.1:
 *   /config.json   { edgeUrl } — where the page finds the edge API
 *   /ort/…         onnxruntime-web's dist/ files (its ES modules, .wasm and worker .mjs)
 *   /…             the built page, dist/ (scripts/build.ts)
 * Every response is cross-origin isolated (COOP same-origin + COEP require-corp), so the page gets
 * SharedArrayBuffer and ORT's WebAssembly threads; the edge, another origin, passes COEP through CORS.
 * Files go out with `Cache-Control: no-cache` and an ETag: the browser revalidates, the service worker
 * keeps the offline copy. Every response carries a Content-Security-Policy that allows what the page
 * needs and nothing else (contentSecurityPolicy below), `nosniff` and no referrer.
 *
 *   npm run serve -w @ecg-tmp/demo -- --edge-url https://edge.example [--port 8788]
 * builds the page, then serves it against that edge (`npm start` runs it beside the local edge: start.ts).
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { InputError } from '@ecg-tmp/core';
import { isMainModule } from '@ecg-tmp/core/node';
import { buildDemo, DIST } from './build.ts';

export const DEFAULT_DEMO_PORT = 8788;
export const ORT_DIST = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
};

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
} as const;

/**
 * The page's CSP: its own scripts (plus the hashes of the HTML's inline scripts — the import map, the
 * embed example's module), WebAssembly compilation for onnxruntime-web ('wasm-unsafe-eval', not
 * 'unsafe-eval'), ORT's thread workers and the service worker from this origin, fetches to this origin
 * and the edge, and ECharts: canvas needs nothing, but its tooltips set `style` attributes, so inline
 * style attributes (not <style> elements) are allowed. No plugins, no framing, no form posts.
 * @example
 * contentSecurityPolicy('http://127.0.0.1:8787', ["'sha256-…'"])
 */
export function contentSecurityPolicy(edgeUrl: string, inlineScripts: readonly string[] = []): string {
  const edge = new URL(edgeUrl).origin;
  return [
    "default-src 'none'",
    `script-src 'self' 'wasm-unsafe-eval'${inlineScripts.map((h) => ` ${h}`).join('')}`,
    "worker-src 'self'",
    `connect-src 'self' ${edge}`,
    "img-src 'self' data:",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** CSP source expressions for the inline <script> elements of an HTML document. */
export function inlineScriptHashes(html: string): string[] {
  const hashes: string[] = [];
  for (const m of html.matchAll(/<script(\s[^>]*)?>([\s\S]*?)<\/script>/gi)) {
    if (/\ssrc\s*=/i.test(m[1] ?? '')) continue;
    hashes.push(`'sha256-${createHash('sha256').update(m[2]!).digest('base64')}'`);
  }
  return hashes;
}

/** The file under `dir` for a URL path, or undefined for a path that climbs out of it. */
function under(dir: string, rest: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  const path = normalize(join(dir, decoded));
  return path === dir || path.startsWith(dir + sep) ? path : undefined;
}

export interface DemoServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the built page (dist/ must exist: scripts/build.ts) against the edge at `edgeUrl`.
 * @example
 * const demo = await startDemoServer({ port: 8788, edgeUrl: 'http://127.0.0.1:8787' });
 */
export async function startDemoServer(options: {
  port: number;
  edgeUrl: string;
  host?: string;
  dist?: string;
}): Promise<DemoServer> {
  const dist = options.dist ?? DIST;
  const host = options.host ?? '127.0.0.1';
  const config = JSON.stringify({ edgeUrl: options.edgeUrl.replace(/\/+$/, '') });
  const csp = contentSecurityPolicy(options.edgeUrl);
  const secure = { ...ISOLATION, 'Content-Security-Policy': csp, 'Referrer-Policy': 'no-referrer' };
  /** An HTML file's CSP, with its inline scripts' hashes, by path and ETag. */
  const htmlPolicies = new Map<string, string>();
  const policyFor = async (file: string, etag: string) => {
    const key = `${file} ${etag}`;
    let policy = htmlPolicies.get(key);
    if (policy === undefined) {
      policy = contentSecurityPolicy(options.edgeUrl, inlineScriptHashes(await readFile(file, 'utf8')));
      htmlPolicies.set(key, policy);
    }
    return policy;
  };
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...secure, Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/config.json') {
      res.writeHead(200, { ...secure, 'Content-Type': TYPES['.json']!, 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : config);
      return;
    }
    const file = path.startsWith('/ort/')
      ? under(ORT_DIST, path.slice('/ort/'.length))
      : under(dist, path === '/' ? 'index.html' : path.slice(1));
    const info = file === undefined ? undefined : await stat(file).catch(() => undefined);
    if (file === undefined || info === undefined || !info.isFile()) {
      res
        .writeHead(404, { ...secure, 'Content-Type': 'text/plain; charset=utf-8' })
        .end(`not found: ${path}\n`);
      return;
    }
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const headers = {
      ...secure,
      ...(extname(file) === '.html' ? { 'Content-Security-Policy': await policyFor(file, etag) } : {}),
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Cache-Control': 'no-cache',
      ETag: etag,
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': String(info.size) });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE')
      throw new InputError('bad_value', `port ${options.port} is in use; pass --demo-port N`, { cause: err });
    throw err;
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const USAGE = 'usage: npm run serve -w @ecg-tmp/demo -- --edge-url URL [--port 8788]';

async function main(argv: readonly string[]): Promise<number> {
  let values: { port?: string; 'edge-url'?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { port: { type: 'string' }, 'edge-url': { type: 'string' } },
    }));
  } catch (err) {
    process.stderr.write(`serve: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const port = Number(values.port ?? DEFAULT_DEMO_PORT);
  const edgeUrl = values['edge-url'];
  if (edgeUrl === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  await buildDemo();
  const demo = await startDemoServer({ port, edgeUrl });
  process.stdout.write(`demo on ${demo.url} (edge API ${edgeUrl}). Ctrl-C stops it.\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await demo.close();
  return 0;
}

if (isMainModule(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
