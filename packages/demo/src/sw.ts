/**
 * @module
 * The page's service worker: keeps the page's own files (HTML, scripts, the sample set, onnxruntime-web's
 * modules and .wasm) so the demo opens and runs offline after one visit. Model weights are not its
 * business: the SDK keeps those in Cache Storage itself, by digest.
 *
 * Same-origin GETs go network first (a rebuilt page shows at once when online) and fall back to the
 * cache. Cross-origin requests (the edge API) are left alone, so the SDK's own retries, Range resumes
 * and cache see the real network. Files the page loaded before this worker controlled it are added when
 * the page posts `{ type: 'cache', urls }`.
 */

// The DOM lib is this package's; these are the few service-worker types used here.
interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}
interface ExtendableMessageEvent extends ExtendableEvent {
  readonly data: unknown;
}
interface WorkerScope {
  readonly location: Location;
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', listener: (event: FetchEvent) => void): void;
  addEventListener(type: 'message', listener: (event: ExtendableMessageEvent) => void): void;
}

/** Replaced at build time: a hash of the built files, and the files every visit needs. */
declare const BUILD_ID: string;
declare const SHELL: readonly string[];

const scope = self as unknown as WorkerScope;
const PREFIX = 'ecg-tmp-demo-';
const CACHE = PREFIX + BUILD_ID;

scope.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => scope.skipWaiting()),
  );
});

scope.addEventListener('activate', (event) => {
  // Only this worker's older caches: the SDK's model cache lives beside them.
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k))),
      )
      .then(() => scope.clients.claim()),
  );
});

function sameOrigin(url: string): boolean {
  return new URL(url, scope.location.href).origin === scope.location.origin;
}

async function networkFirst(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.status === 200) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(request);
    if (cached !== undefined) return cached;
    throw err;
  }
}

scope.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || !sameOrigin(request.url)) return;
  event.respondWith(networkFirst(request));
});

scope.addEventListener('message', (event) => {
  const data = event.data as { type?: unknown; urls?: unknown } | null;
  if (data?.type !== 'cache' || !Array.isArray(data.urls)) return;
  const urls = data.urls.filter((u): u is string => typeof u === 'string' && sameOrigin(u));
  event.waitUntil(
    caches.open(CACHE).then(async (cache) => {
      for (const url of urls) {
        if ((await cache.match(url)) !== undefined) continue;
        // One at a time and best effort: a file that fails now is cached on its next network fetch.
        await cache.add(url).catch(() => {});
      }
    }),
  );
});
