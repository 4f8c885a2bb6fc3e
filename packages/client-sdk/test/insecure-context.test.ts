/**
 * A page that is not a secure context (plain http on a LAN address, as when a phone tests a dev server)
 * has no `crypto.subtle`. Here Node runs the SDK with `globalThis.crypto` replaced by what such a page
 * has (getRandomValues, no subtle), the real cnn-lstm stable from the repository's models/ folder on
 * WASM: weights are still verified (JavaScript SHA-256), cached and re-verified from the cache, a
 * corrupted blob is still an IntegrityError, and nothing escapes as a raw TypeError.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createReconstructor, IntegrityError, memoryStore } from '../src/index.ts';

const ROOT = join(import.meta.dirname, '../../..');
const ecg = new Float32Array(12 * 500).map((_, i) => Math.sin(i * 0.031) * 0.6 + Math.cos(i * 0.0071) * 0.2);

/** The models folder as https://models.test/, counting the .onnx requests; `corrupt` flips a byte. */
function folder(options: { corrupt?: boolean } = {}) {
  const onnx: string[] = [];
  const fetchImpl: typeof fetch = async (input) => {
    const path = decodeURIComponent(new URL(String(input instanceof Request ? input.url : input)).pathname);
    if (path.endsWith('.onnx')) onnx.push(path);
    try {
      const bytes = new Uint8Array(await readFile(join(ROOT, 'models', path)));
      if (options.corrupt && path.endsWith('.onnx')) bytes[100]! ^= 0xff;
      return new Response(bytes);
    } catch {
      return new Response('not found', { status: 404 });
    }
  };
  return { fetch: fetchImpl, onnx };
}

const secure = globalThis.crypto;
beforeAll(() => {
  vi.stubGlobal('crypto', { getRandomValues: secure.getRandomValues.bind(secure) });
});
afterAll(() => {
  vi.unstubAllGlobals();
});

describe('without crypto.subtle (not a secure context)', () => {
  it('verifies the weights in JavaScript, caches them, and loads again from the cache', async () => {
    expect(globalThis.crypto.subtle).toBeUndefined();
    const store = memoryStore();
    const first = folder();
    const options = {
      model: 'cnn-lstm',
      modelsUrl: 'https://models.test',
      device: 'wasm' as const,
      cache: store,
    };
    const r = await createReconstructor({ ...options, fetch: first.fetch });
    expect(first.onnx).toHaveLength(1);
    expect(store.entries.size).toBeGreaterThanOrEqual(1);
    const { tmp } = await r.reconstruct(ecg);
    expect(tmp.every(Number.isFinite)).toBe(true);
    await r.dispose();
    // The cached copy is re-verified (again in JavaScript) and used: no weights fetched.
    const second = folder();
    const again = await createReconstructor({ ...options, fetch: second.fetch });
    expect(second.onnx).toEqual([]);
    expect((await again.reconstruct(ecg)).tmp).toEqual(tmp);
    await again.dispose();
  });

  it('still refuses bytes that do not match the manifest, with an IntegrityError', async () => {
    const bad = folder({ corrupt: true });
    const err = await createReconstructor({
      model: 'cnn-lstm',
      modelsUrl: 'https://models.test',
      device: 'wasm',
      cache: memoryStore(),
      fetch: bad.fetch,
      retries: 0,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
  });
});
