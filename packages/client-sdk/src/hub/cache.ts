/**
 * @module
 * Where verified weights (keyed by sha256) and manifests are kept between page loads. Every store has
 * the same two methods; bytes are always re-verified after `match`, so a corrupted cache entry is
 * refetched, never run.
 *   - 'cache-api'  Cache Storage (the default in browsers; survives reloads, works offline); IndexedDB
 *                  where the page has no Cache Storage (not a secure context)
 *   - 'indexeddb'  one IndexedDB object store
 *   - 'none'       nothing kept
 * Apps (and tests in Node, which has neither) may pass their own `{ match, put }`.
 */

export interface ByteStore {
  match(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

export const CACHE_KINDS = ['cache-api', 'indexeddb', 'none'] as const;
export type CacheKind = (typeof CACHE_KINDS)[number];

const CACHE_NAME = 'ecg-tmp-models-v1';
/** Cache Storage keys must be URLs; this origin is never fetched. */
const KEY_ORIGIN = 'https://ecg-tmp.cache.invalid/';

export function cacheApiStore(name = CACHE_NAME): ByteStore {
  const open = () => caches.open(name);
  return {
    async match(key) {
      const res = await (await open()).match(KEY_ORIGIN + key);
      return res === undefined ? undefined : new Uint8Array(await res.arrayBuffer());
    },
    async put(key, bytes) {
      const body = new Blob([bytes as Uint8Array<ArrayBuffer>]);
      await (await open()).put(
        KEY_ORIGIN + key,
        new Response(body, { headers: { 'Content-Length': String(bytes.length) } }),
      );
    },
  };
}

export function indexedDbStore(name = CACHE_NAME): ByteStore {
  const db = new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('bytes');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const run = async <T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const tx = (await db).transaction('bytes', mode);
    return new Promise<T>((resolve, reject) => {
      const req = op(tx.objectStore('bytes'));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  };
  return {
    async match(key) {
      const value = await run<unknown>('readonly', (s) => s.get(key));
      return value instanceof ArrayBuffer ? new Uint8Array(value) : undefined;
    },
    async put(key, bytes) {
      const copy = bytes.slice().buffer;
      await run('readwrite', (s) => s.put(copy, key));
    },
  };
}

export function noStore(): ByteStore {
  return { match: async () => undefined, put: async () => {} };
}

/** An in-memory store (for Node, tests, or a page that wants no persistence but no refetching). */
export function memoryStore(): ByteStore & { readonly entries: Map<string, Uint8Array> } {
  const entries = new Map<string, Uint8Array>();
  return {
    entries,
    match: async (key) => entries.get(key)?.slice(),
    put: async (key, bytes) => void entries.set(key, bytes.slice()),
  };
}

/**
 * The store for an option value. Cache Storage exists only in secure contexts: on a page served over
 * plain http from a LAN address, 'cache-api' falls back to IndexedDB (which such pages keep), so weights
 * are still kept between loads; a kind the environment lacks altogether falls back to 'none'.
 */
export function openStore(option: CacheKind | ByteStore | undefined): ByteStore {
  if (typeof option === 'object') return option;
  const kind = option ?? 'cache-api';
  if (kind === 'cache-api' && typeof caches !== 'undefined') return cacheApiStore();
  if (kind !== 'none' && typeof indexedDB !== 'undefined') return indexedDbStore();
  return noStore();
}
