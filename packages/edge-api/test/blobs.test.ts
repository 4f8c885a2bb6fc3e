import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/db/index.ts';
import { call, publishToken } from './helpers.ts';

let sha: string;
const bytes = new Uint8Array(1000).map((_, i) => (i * 7) % 256);

beforeAll(async () => {
  sha = await sha256Hex(bytes);
  const token = await publishToken();
  const res = await call(`/v1/blobs/${sha}`, {
    method: 'PUT',
    body: bytes,
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(201);
});

describe('GET /v1/blobs/:sha256', () => {
  it('serves the bytes with a strong ETag, immutable caching, length and CORS for any origin', async () => {
    const res = await call(`/v1/blobs/${sha}`, { headers: { Origin: 'https://app.example' } });
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    expect(res.headers.get('etag')).toBe(`"${sha}"`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toMatch(/Content-Range/);
  });

  it('answers If-None-Match with 304 and HEAD with headers only', async () => {
    const notModified = await call(`/v1/blobs/${sha}`, { headers: { 'If-None-Match': `"${sha}"` } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('etag')).toBe(`"${sha}"`);
    expect(await notModified.text()).toBe('');
    const other = await call(`/v1/blobs/${sha}`, { headers: { 'If-None-Match': '"something-else"' } });
    expect(other.status).toBe(200);
    const head = await call(`/v1/blobs/${sha}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('1000');
    expect(await head.text()).toBe('');
  });

  it('serves byte ranges with 206 (to resume a download) and 416 when unsatisfiable', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 100],
      ['bytes=900-', 900, 100],
      ['bytes=-10', 990, 10],
      ['bytes=950-5000', 950, 50],
    ];
    for (const [range, offset, length] of cases) {
      const res = await call(`/v1/blobs/${sha}`, { headers: { Range: range } });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${offset}-${offset + length - 1}/1000`);
      expect(res.headers.get('content-length')).toBe(String(length));
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes.subarray(offset, offset + length));
    }
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0', 'bytes=10-5']) {
      const res = await call(`/v1/blobs/${sha}`, { headers: { Range: range } });
      expect(res.status, range).toBe(416);
      expect(res.headers.get('content-range')).toBe('bytes */1000');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('range_not_satisfiable');
    }
    // A stale If-Range validator gets the whole blob, not a piece of the new one.
    const stale = await call(`/v1/blobs/${sha}`, { headers: { Range: 'bytes=0-9', 'If-Range': '"old"' } });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(1000);
  });

  it('answers a CORS preflight from any origin', async () => {
    const res = await call(`/v1/blobs/${sha}`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'range',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('range');
  });

  it('404s unknown digests and 400s malformed ones', async () => {
    const missing = await call(`/v1/blobs/${'0'.repeat(64)}`);
    expect(missing.status).toBe(404);
    for (const bad of ['abc', '../../etc/passwd', 'A'.repeat(64), `${sha}x`]) {
      const res = await call(`/v1/blobs/${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_digest');
    }
  });
});

describe('PUT /v1/blobs/:sha256', () => {
  it('stores a blob only when its bytes hash to the digest in the URL, with a publish token', async () => {
    const token = await publishToken();
    const data = new TextEncoder().encode('some weights');
    const digest = await sha256Hex(data);
    const wrong = await call(`/v1/blobs/${'1'.repeat(64)}`, {
      method: 'PUT',
      body: data,
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(wrong.status).toBe(422);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toContain(digest);
    expect(await env.BLOBS.head(`sha256/${'1'.repeat(64)}`)).toBeNull();
    const anonymous = await call(`/v1/blobs/${digest}`, { method: 'PUT', body: data });
    expect(anonymous.status).toBe(401);
    expect(await env.BLOBS.head(`sha256/${digest}`)).toBeNull();
  });
});
