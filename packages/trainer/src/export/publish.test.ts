/**
 * `npm run publish` and `npm run token` against a real `wrangler dev` with fresh state in a temporary
 * folder, and publishModel's retries and error kinds against a scripted server.
 */

import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Manifest, parseManifest } from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PublishError, publishModel } from '../../../edge-api/client/publish.ts';
import { type DevServer, freePort, startDev } from '../../../edge-api/scripts/start.ts';
import { main as tokenMain } from '../../../edge-api/scripts/token.ts';
import { applyMigrations } from '../../../edge-api/scripts/wrangler.ts';
import { ROOT } from '../synthetic.ts';
import { main as publishMain } from './publish.ts';

const MODEL = join(ROOT, 'models/cnn-lstm/0.1.0');

/** Runs a CLI's main in this process, capturing what it writes. */
async function capture(
  run: () => Promise<number>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => out.push(String(c)) > 0);
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => err.push(String(c)) > 0);
  try {
    return { code: await run(), stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

/** A fetch that answers from `handle(method, path)`; a thrown error is a network failure. */
function scripted(handle: (method: string, path: string) => Response) {
  const calls: string[] = [];
  const fake = async (input: string | URL | Request, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    const path = new URL(String(input)).pathname;
    calls.push(`${method} ${path}`);
    return handle(method, path);
  };
  return { calls, fetch: fake as typeof fetch };
}

describe('publishModel against a scripted server', () => {
  const options = { url: 'http://edge.test', token: 'ecgtmp_scripted-token-000', backoffMs: 1 };

  it('retries a network error and a 503, then publishes and sets the aliases', async () => {
    let gets = 0;
    const server = scripted((method, path) => {
      if (method === 'GET' && ++gets === 1) throw new TypeError('fetch failed');
      if (method === 'GET') return gets === 2 ? json({}, 503) : json({ error: { code: 'not_found' } }, 404);
      if (method === 'POST') return json({}, 201);
      return json({ alias: path.split('/').pop() });
    });
    const report = await publishModel(MODEL, { ...options, fetch: server.fetch, aliases: ['stable'] });
    expect(report).toMatchObject({
      outcome: 'published',
      transport: 'multipart',
      files: 2,
      aliases: ['stable'],
    });
    expect(server.calls).toEqual([
      'GET /v1/models/cnn-lstm/versions/0.1.0',
      'GET /v1/models/cnn-lstm/versions/0.1.0',
      'GET /v1/models/cnn-lstm/versions/0.1.0',
      'POST /v1/models/cnn-lstm/versions',
      'PUT /v1/models/cnn-lstm/aliases/stable',
    ]);
  });

  it('gives up on a server that keeps failing (exit code 1)', async () => {
    const server = scripted(() => json({ error: { code: 'internal', message: 'boom' } }, 500));
    const err = await publishModel(MODEL, { ...options, fetch: server.fetch, retries: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err).toMatchObject({ kind: 'server', status: 500, exitCode: 1 });
    expect(server.calls).toHaveLength(3);
  });

  it('treats a 409 with other files as a conflict', async () => {
    const local = parseManifest(JSON.parse(await readFile(join(MODEL, 'manifest.json'), 'utf8')));
    const theirs: Manifest = {
      ...local,
      files: local.files.map((f, i) => (i === 0 ? { ...f, sha256: 'a'.repeat(64) } : f)),
    };
    const server = scripted((method) =>
      method === 'GET'
        ? json(theirs)
        : json({ error: { code: 'version_exists', message: 'immutable' } }, 409),
    );
    const err = await publishModel(MODEL, { ...options, fetch: server.fetch }).catch((e) => e);
    expect(err).toMatchObject({ kind: 'conflict', exitCode: 2 });
    expect(err.message).toContain('model.onnx: server aaaaaaaaaaaa');
    // The existing version was seen first: only the manifest was posted, no bytes.
    expect(server.calls).toEqual([
      'GET /v1/models/cnn-lstm/versions/0.1.0',
      'POST /v1/models/cnn-lstm/versions',
    ]);
  });

  it('checks the folder before sending anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'publish-bad-'));
    try {
      await cp(MODEL, dir, { recursive: true });
      await writeFile(join(dir, 'model.onnx'), 'not the graph');
      const r = await capture(() =>
        publishMain([dir, '--to', 'http://edge.test'], { ECG_TMP_TOKEN: options.token }),
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/model\.onnx has 13 bytes, the manifest says 853168/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names a missing token and a bad alias with exit code 2', async () => {
    const noToken = await capture(() => publishMain([MODEL, '--to', 'http://edge.test'], {}));
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('give a publish token with --token or ECG_TMP_TOKEN');
    const badAlias = await capture(() =>
      publishMain([MODEL, '--to', 'http://edge.test', '--alias', '1.0.0'], { ECG_TMP_TOKEN: options.token }),
    );
    expect(badAlias.code).toBe(2);
    expect(badAlias.stderr).toContain("alias '1.0.0' must be a name starting with a letter, like 'stable'");
  });
});

describe('publish and token commands against wrangler dev', () => {
  let state: string;
  let server: DevServer;
  let tokenId: string;
  let token: string;

  const models = async () =>
    ((await (await fetch(`${server.url}/v1/models`)).json()) as { models: unknown[] }).models;
  const publish = (args: string[], withToken = token) =>
    capture(() => publishMain([...args, '--to', server.url], { ECG_TMP_TOKEN: withToken }));

  beforeAll(async () => {
    state = await mkdtemp(join(tmpdir(), 'publish-edge-'));
    const target = { kind: 'local', persistTo: state } as const;
    const [created, dev] = await Promise.all([
      applyMigrations(target).then(() =>
        capture(() =>
          tokenMain(['create', '--scope', 'publish', '--label', 'publish test', '--persist-to', state]),
        ),
      ),
      freePort().then((port) => startDev({ port, persistTo: state })),
    ]);
    server = dev;
    expect(created.code, created.stderr).toBe(0);
    token = created.stdout.trim();
    tokenId = /token ([0-9a-f-]{36})/.exec(created.stderr)![1]!;
    expect(token).toMatch(/^ecgtmp_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).not.toContain(token);
  });

  afterAll(async () => {
    await server?.stop();
    await rm(state, { recursive: true, force: true });
  });

  it('publishes models/cnn-lstm/0.1.0 and its aliases', async () => {
    const r = await publish([MODEL, '--alias', 'stable']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('cnn-lstm 0.1.0: published (2 files, 1281244 bytes, multipart)');
    expect(`${r.stdout}${r.stderr}`).not.toContain(token);
    expect(await models()).toEqual([
      { name: 'cnn-lstm', versions: ['0.1.0'], aliases: { latest: '0.1.0', stable: '0.1.0' } },
    ]);
  });

  it('publishes again as a no-op that exits 0', async () => {
    // An aliases file in models/aliases.json's format that names this folder's version (the shipped
    // one has moved on to newer versions).
    const aliases = join(state, 'aliases.json');
    await writeFile(aliases, JSON.stringify({ 'cnn-lstm': { stable: '0.1.0', latest: '0.1.0' } }));
    const r = await publish([MODEL, '--aliases-from', aliases]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('cnn-lstm 0.1.0: already published with identical files');
    expect(r.stdout).toContain('stable, latest → 0.1.0');
  });

  it('refuses a wrong token with exit code 2 and changes nothing', async () => {
    const before = await models();
    const r = await publish([MODEL, '--alias', 'beta'], `ecgtmp_${'x'.repeat(43)}`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the token was refused (401 unauthorized: the bearer token is not known)');
    expect(r.stderr).not.toContain('x'.repeat(43));
    expect(await models()).toEqual(before);
  });

  it('refuses other files under a published version, and sends only missing blobs for a new one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'publish-changed-'));
    try {
      await cp(MODEL, dir, { recursive: true });
      const changed = Buffer.concat([await readFile(join(dir, 'model.fp16.onnx')), Buffer.from([0])]);
      await writeFile(join(dir, 'model.fp16.onnx'), changed);
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
      const fp16 = manifest.files.find((f) => f.path === 'model.fp16.onnx')!;
      Object.assign(fp16, {
        bytes: changed.length,
        sha256: createHash('sha256').update(changed).digest('hex'),
      });
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));

      const conflict = await publish([dir]);
      expect(conflict.code).toBe(2);
      expect(conflict.stderr).toContain(
        'cnn-lstm 0.1.0 is already published with other files (model.fp16.onnx:',
      );

      await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, version: '0.2.0' }));
      const report = await publishModel(dir, { url: server.url, token, multipartLimit: 0 });
      expect(report).toMatchObject({ outcome: 'published', transport: 'blobs', bytesSent: changed.length });
      expect(await models()).toEqual([
        { name: 'cnn-lstm', versions: ['0.1.0', '0.2.0'], aliases: { latest: '0.2.0', stable: '0.1.0' } },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a revoked token with exit code 2', async () => {
    const revoked = await capture(() => tokenMain(['revoke', tokenId, '--persist-to', state]));
    expect(revoked.code, revoked.stderr).toBe(0);
    const listed = await capture(() => tokenMain(['list', '--persist-to', state]));
    expect(listed.stdout).toMatch(new RegExp(`${tokenId}  publish  \\S+  revoked \\S+  publish test`));
    expect(listed.stdout).not.toContain(token);
    const r = await publish([MODEL]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the token was refused (403 forbidden: the bearer token has been revoked)');
  });
});
