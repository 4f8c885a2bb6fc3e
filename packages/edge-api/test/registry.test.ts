import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { call, fakeVersion, publish, publishForm, publishToken } from './helpers.ts';

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

  it('reads a multipart publish whose boundary has capitals, as browsers send it', async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('boundary', '1.0.0');
    const form = new Response(publishForm(manifest, files));
    const boundary = form.headers.get('content-type')!.split('boundary=')[1]!;
    const mixed = `----WebKitFormBoundaryAbCdEf${boundary.length}`;
    const body = (await form.text()).replaceAll(boundary, mixed);
    const res = await call('/v1/models/boundary/versions', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': `multipart/form-data; boundary=${mixed}` },
      body,
    });
    expect(res.status, await res.clone().text()).toBe(201);
    expect((await call('/v1/models/boundary/versions/1.0.0')).status).toBe(200);
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

  it('answers 404 no_route under /v2, which it does not serve, and 404 not_found for a model it lacks', async () => {
    // The SDK tells a registry deployed alone from a missing model by these two codes.
    for (const path of ['/v2/models/demo/versions/1.0.0/ready', '/v2/models/demo/versions/1.0.0/infer']) {
      const res = await call(path, path.endsWith('infer') ? { method: 'POST', body: '{}' } : {});
      expect(res.status, path).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code, path).toBe('no_route');
      expect(body.error.message).toMatch(/^no route for (GET|POST) \/v2\/models\/demo\//);
    }
    const missing = await call('/v1/models/never-published/versions/1.0.0');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found');
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

const authed = (token: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` },
});

describe('aliases and deletion', () => {
  it('moves an alias between versions, refuses to delete an aliased version, deletes it once free', async () => {
    const token = await publishToken();
    for (const v of ['1.0.0', '1.1.0']) {
      const { manifest, files } = await fakeVersion('moving', v);
      expect((await publish(token, 'moving', manifest, files)).status).toBe(201);
    }
    const move = (version: string) =>
      call(
        '/v1/models/moving/aliases/stable',
        authed(token, {
          method: 'PUT',
          body: JSON.stringify({ version }),
          headers: { 'content-type': 'application/json' },
        }),
      );
    expect((await move('1.0.0')).status).toBe(200);
    expect(((await (await call('/v1/models/moving')).json()) as { version: string }).version).toBe('1.0.0');
    const blocked = await call('/v1/models/moving/versions/1.0.0', authed(token, { method: 'DELETE' }));
    expect(blocked.status).toBe(409);
    expect((await errorOf(blocked)).message).toContain('stable');
    expect((await move('1.1.0')).status).toBe(200);
    expect(
      ((await (await call('/v1/models/moving/versions/stable')).json()) as { version: string }).version,
    ).toBe('1.1.0');
    expect((await call('/v1/models/moving/versions/1.0.0', authed(token, { method: 'DELETE' }))).status).toBe(
      204,
    );
    expect((await call('/v1/models/moving/versions/1.0.0')).status).toBe(404);
    // A version published again after its deletion is read as it is now, not as the isolate parsed it
    // before (the parsed manifests are kept by their stored text).
    const again = await fakeVersion('moving', '1.0.0', ['a different graph']);
    expect((await publish(token, 'moving', again.manifest, again.files)).status).toBe(201);
    const reread = (await (await call('/v1/models/moving/versions/1.0.0')).json()) as { files: unknown[] };
    expect(reread.files).toHaveLength(1);
    // latest followed the highest version; an alias to a missing version is a 404.
    const list = (await (await call('/v1/models')).json()) as {
      models: { name: string; versions: string[]; aliases: Record<string, string> }[];
    };
    expect(list.models.find((m) => m.name === 'moving')).toEqual({
      name: 'moving',
      versions: ['1.0.0', '1.1.0'],
      aliases: { latest: '1.1.0', stable: '1.1.0' },
    });
    expect((await move('9.9.9')).status).toBe(404);
    const anonymous = await call('/v1/models/moving/aliases/stable', {
      method: 'PUT',
      body: '{"version":"1.1.0"}',
    });
    expect(anonymous.status).toBe(401);
  });

  it('publishes from blobs uploaded one by one, then a JSON manifest', async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('piecewise', '2.0.0');
    const early = await call(
      '/v1/models/piecewise/versions',
      authed(token, {
        method: 'POST',
        body: JSON.stringify(manifest),
        headers: { 'content-type': 'application/json' },
      }),
    );
    expect(early.status).toBe(422);
    expect((await errorOf(early)).code).toBe('missing_blob');
    for (const file of manifest.files) {
      const put = await call(
        `/v1/blobs/${file.sha256}`,
        authed(token, { method: 'PUT', body: files.get(file.path)! }),
      );
      expect(put.status).toBe(201);
    }
    const res = await call(
      '/v1/models/piecewise/versions',
      authed(token, {
        method: 'POST',
        body: JSON.stringify(manifest),
        headers: { 'content-type': 'application/json' },
      }),
    );
    expect(res.status).toBe(201);
    expect((await call('/v1/models/piecewise/versions/2.0.0')).status).toBe(200);
  });

  it('lets exactly one of several concurrent publishes of the same version win', async () => {
    const token = await publishToken();
    const attempts = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (tag) => {
        const { manifest, files } = await fakeVersion('race', '1.0.0', [`content ${tag}`]);
        return { sha: manifest.files[0]!.sha256, res: await publish(token, 'race', manifest, files) };
      }),
    );
    const statuses = attempts.map((a) => a.res.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409]);
    const winner = attempts.find((a) => a.res.status === 201)!;
    const served = (await (await call('/v1/models/race/versions/1.0.0')).json()) as {
      files: { sha256: string }[];
    };
    expect(served.files[0]!.sha256).toBe(winner.sha);
  });
});

describe('bad requests get a JSON error naming the problem', () => {
  it('rejects odd names, versions and aliases in paths', async () => {
    for (const [path, code] of [
      ['/v1/models/Bad_Name', 'bad_name'],
      ['/v1/models/..%2F..%2Fetc', 'bad_name'],
      ['/v1/models/ok/versions/1.0', 'bad_name'],
      ['/v1/models/ok/versions/a%2F..%2Fb', 'bad_name'],
      [`/v1/models/${'x'.repeat(65)}`, 'bad_name'],
    ] as const) {
      const res = await call(path);
      expect(res.status, path).toBe(400);
      expect((await errorOf(res)).code, path).toBe(code);
    }
    expect((await call('/v1/models/nobody')).status).toBe(404);
    expect((await call('/v1/models/nobody/versions/1.0.0')).status).toBe(404);
    expect((await call('/v1/nothing-here')).status).toBe(404);
  });

  it('rejects malformed publishes without storing anything', async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('strict', '1.0.0');
    const post = (body: BodyInit, type?: string) =>
      call(
        '/v1/models/strict/versions',
        authed(token, { method: 'POST', body, headers: type ? { 'content-type': type } : {} }),
      );
    const cases: [Promise<Response>, number, string][] = [
      [post('{"schemaVersion": 1', 'application/json'), 400, 'bad_json'],
      [post('hello', 'text/plain'), 415, 'unsupported_media_type'],
      [post(JSON.stringify({ ...manifest, name: 'other' }), 'application/json'), 400, 'name_mismatch'],
      [post(JSON.stringify({ ...manifest, version: 'one' }), 'application/json'), 400, 'bad_manifest'],
      [publish(token, 'strict', manifest, new Map([...files].slice(0, 1))), 422, 'missing_file'],
      [
        publish(token, 'strict', manifest, new Map([...files, ['extra.onnx', new Uint8Array([1])]])),
        422,
        'unlisted_file',
      ],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      expect(res.status, code).toBe(status);
      expect((await errorOf(res)).code).toBe(code);
    }
    const form = new FormData();
    form.set('model.onnx', new Blob([files.get('model.onnx')!]));
    const noManifest = await call(
      '/v1/models/strict/versions',
      authed(token, { method: 'POST', body: form }),
    );
    expect((await errorOf(noManifest)).code).toBe('missing_manifest');
    expect((await call('/v1/models/strict/versions/1.0.0')).status).toBe(404);
    expect(
      (await env.BLOBS.list()).objects.filter((o) => manifest.files.some((f) => o.key.endsWith(f.sha256))),
    ).toEqual([]);
  });

  it('refuses revoked tokens and tokens without the publish scope with 403', async () => {
    const { manifest, files } = await fakeVersion('guarded', '1.0.0');
    const noScope = await publishToken([] as never[]);
    expect((await publish(noScope, 'guarded', manifest, files)).status).toBe(403);
    const revoked = await publishToken();
    await env.DB.prepare(
      'UPDATE tokens SET revoked_at = ? WHERE hash IS NOT NULL AND revoked_at IS NULL AND label = ?',
    )
      .bind(new Date().toISOString(), 'test')
      .run();
    const res = await publish(revoked, 'guarded', manifest, files);
    expect(res.status).toBe(403);
    expect((await errorOf(res)).message).toContain('revoked');
    expect((await call('/v1/models/guarded/versions/1.0.0')).status).toBe(404);
  });
});
