import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { call, fakeVersion, publish, publishToken } from './helpers.ts';

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  return body.error;
}

describe('publish and read the registry', () => {
  it('publishes a version, lists it, serves its manifest by version and by alias, and sets latest', async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('demo', '1.0.0');
    const res = await publish(token, 'demo', manifest, files);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/v1/models/demo/versions/1.0.0');

    const list = (await (await call('/v1/models')).json()) as {
      models: { name: string; versions: string[]; aliases: Record<string, string> }[];
    };
    expect(list.models).toEqual([{ name: 'demo', versions: ['1.0.0'], aliases: { latest: '1.0.0' } }]);

    const byVersion = await call('/v1/models/demo/versions/1.0.0');
    expect(byVersion.status).toBe(200);
    expect(byVersion.headers.get('cache-control')).toContain('immutable');
    expect(((await byVersion.json()) as { files: unknown[] }).files).toHaveLength(2);

    const byAlias = await call('/v1/models/demo/versions/latest');
    expect(byAlias.headers.get('cache-control')).toBe('public, max-age=60');
    expect(((await byAlias.json()) as { version: string }).version).toBe('1.0.0');
    expect(byAlias.headers.get('content-location')).toBe('/v1/models/demo/versions/1.0.0');

    const stored = await env.BLOBS.head(`sha256/${manifest.files[0]!.sha256}`);
    expect(stored?.size).toBe(manifest.files[0]!.bytes);
  });

  it('answers 409 to a second publish of the same version and keeps the first', async () => {
    const token = await publishToken();
    const first = await fakeVersion('dup', '1.0.0', ['original']);
    expect((await publish(token, 'dup', first.manifest, first.files)).status).toBe(201);
    const second = await fakeVersion('dup', '1.0.0', ['replacement']);
    const res = await publish(token, 'dup', second.manifest, second.files);
    expect(res.status).toBe(409);
    expect((await errorOf(res)).code).toBe('version_exists');
    const served = (await (await call('/v1/models/dup/versions/1.0.0')).json()) as {
      files: { sha256: string }[];
    };
    expect(served.files[0]!.sha256).toBe(first.manifest.files[0]!.sha256);
  });

  it('rejects a file whose sha256 differs from the manifest, and nothing becomes visible', async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('bad', '1.0.0');
    files.set(
      'model.onnx',
      new TextEncoder().encode('tampered!'.padEnd(files.get('model.onnx')!.length, '!')),
    );
    const res = await publish(token, 'bad', manifest, files);
    expect(res.status).toBe(422);
    expect((await errorOf(res)).message).toMatch(/model\.onnx.*sha256/);
    expect((await call('/v1/models/bad/versions/1.0.0')).status).toBe(404);
    expect(await env.BLOBS.head(`sha256/${manifest.files[1]!.sha256}`)).toBeNull();
  });

  it('requires a publish token', async () => {
    const { manifest, files } = await fakeVersion('locked', '1.0.0');
    const none = await call('/v1/models/locked/versions', {
      method: 'POST',
      body: JSON.stringify(manifest),
      headers: { 'content-type': 'application/json' },
    });
    expect(none.status).toBe(401);
    const wrong = await publish('not-a-real-token-at-all', 'locked', manifest, files);
    expect(wrong.status).toBe(401);
    expect((await call('/v1/models/locked/versions/1.0.0')).status).toBe(404);
  });
});
