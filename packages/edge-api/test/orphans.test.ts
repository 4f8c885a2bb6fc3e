/**
 * Orphan blobs (in R2, named by no version): publishes made to fail midway with injected storage faults
 * (test/faulty-env.ts) leave them; GET /v1/admin/orphans lists exactly those, never a visible version's;
 * POST /v1/admin/orphans/collect deletes only the ones older than min_age; a version published after a
 * collection is complete; and a publish racing a collection is refused, never published torn.
 */

import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { sha256Hex } from '../src/db/index.ts';
import { app } from '../src/index.ts';
import type { Orphan } from '../src/routes/orphans.ts';
import { faultyEnv } from './faulty-env.ts';
import { call, fakeVersion, publish, publishForm, publishToken } from './helpers.ts';

type Version = Awaited<ReturnType<typeof fakeVersion>>;

const authed = (token: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` },
});

/** A multipart publish whose last (third) blob fails to store: the first two are left as orphans. */
async function failedPublish(token: string, name: string): Promise<Version> {
  const v = await fakeVersion(name, '1.0.0', ['one', 'two', 'three']);
  const faulty = faultyEnv(env, [{ on: 'r2.put', nth: 3, kind: 'throw' }]);
  const res = await app.request(
    `/v1/models/${name}/versions`,
    authed(token, { method: 'POST', body: publishForm(v.manifest, v.files) }),
    faulty.env,
  );
  expect(res.status).toBe(503);
  return v;
}

async function listOrphans(token: string, minAge: number) {
  const res = await call(`/v1/admin/orphans?min_age=${minAge}`, authed(token));
  expect(res.status).toBe(200);
  return (await res.json()) as { minAgeSeconds: number; bytes: number; orphans: Orphan[] };
}

async function collect(token: string, minAge: number) {
  const res = await call(`/v1/admin/orphans/collect?min_age=${minAge}`, authed(token, { method: 'POST' }));
  expect(res.status).toBe(200);
  return (await res.json()) as {
    minAgeSeconds: number;
    bytesFreed: number;
    collected: Orphan[];
    kept: number;
  };
}

async function expectComplete(name: string, v: Version) {
  const res = await call(`/v1/models/${name}/versions/${v.manifest.version}`);
  expect(res.status).toBe(200);
  for (const file of v.manifest.files) {
    const blob = await call(`/v1/blobs/${file.sha256}`);
    expect(blob.status, file.path).toBe(200);
    expect(await sha256Hex(new Uint8Array(await blob.arrayBuffer())), file.path).toBe(file.sha256);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('orphan blobs', () => {
  it('lists the orphans a failed publish leaves, collects only those older than min_age, and a later publish works', async ({
    task,
  }) => {
    const token = await publishToken();
    const healthy = await fakeVersion('orphan-kept', '1.0.0', ['kept one', 'kept two']);
    expect((await publish(token, 'orphan-kept', healthy.manifest, healthy.files)).status).toBe(201);

    const old = await failedPublish(token, 'orphan-old');
    await sleep(2_100);
    const young = await failedPublish(token, 'orphan-young');
    const stored = (v: Version) => v.manifest.files.slice(0, 2).map((f) => f.sha256);

    const listed = await listOrphans(token, 2);
    expect(listed.minAgeSeconds).toBe(2);
    const byDigest = new Map(listed.orphans.map((o) => [o.sha256, o]));
    expect([...byDigest.keys()].sort()).toEqual([...stored(old), ...stored(young)].sort());
    for (const d of stored(old)) expect(byDigest.get(d)!.collectable).toBe(true);
    for (const d of stored(young)) expect(byDigest.get(d)!.collectable).toBe(false);
    expect(listed.bytes).toBe(listed.orphans.reduce((s, o) => s + o.bytes, 0));

    const collected = await collect(token, 2);
    expect(collected.collected.map((o) => o.sha256).sort()).toEqual(stored(old).sort());
    expect(collected.kept).toBe(2);
    for (const d of stored(old)) {
      expect(await env.BLOBS.head(`sha256/${d}`)).toBeNull();
      expect(await env.DB.prepare('SELECT 1 FROM blobs WHERE sha256 = ?').bind(d).first()).toBeNull();
    }
    for (const d of stored(young)) expect(await env.BLOBS.head(`sha256/${d}`)).not.toBeNull();
    await expectComplete('orphan-kept', healthy);
    expect((await listOrphans(token, 0)).orphans.map((o) => o.sha256).sort()).toEqual(stored(young).sort());

    // Retrying both publishes after the collection: complete versions, and no orphans left.
    for (const [name, v] of [
      ['orphan-old', old],
      ['orphan-young', young],
    ] as const) {
      expect((await publish(token, name, v.manifest, v.files)).status).toBe(201);
      await expectComplete(name, v);
    }
    expect((await listOrphans(token, 0)).orphans).toEqual([]);
    expect((await collect(token, 0)).collected).toEqual([]);
    reportFigure(task, {
      area: 'faults',
      what: 'orphan blobs from failed publishes listed and collected',
      count: 4,
      unit: 'orphans',
      failures: 0,
      note: 'only the 2 older than min_age collected; visible versions untouched; retried publishes complete',
    });
  });

  it('refuses a publish whose blob is collected while it runs, instead of publishing it torn', async ({
    task,
  }) => {
    const token = await publishToken();
    const v = await fakeVersion('orphan-race', '1.0.0', ['raced']);
    const file = v.manifest.files[0]!;
    const put = await call(
      `/v1/blobs/${file.sha256}`,
      authed(token, { method: 'PUT', body: v.files.get(file.path)! }),
    );
    expect(put.status).toBe(201);
    // The manifest POST passes its blob check, then stalls before writing the version row …
    const faulty = faultyEnv(env, [{ on: 'd1', sql: /INTO versions/, nth: 1, kind: 'stall' }]);
    const pending = app.request(
      '/v1/models/orphan-race/versions',
      authed(token, {
        method: 'POST',
        body: JSON.stringify(v.manifest),
        headers: { 'content-type': 'application/json' },
      }),
      faulty.env,
    );
    await faulty.stalled();
    // … while a collection with no minimum age takes its blob.
    expect((await collect(token, 0)).collected.map((o) => o.sha256)).toEqual([file.sha256]);
    faulty.release();
    const res = await pending;
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('missing_blob');
    expect((await call('/v1/models/orphan-race/versions/1.0.0')).status).toBe(404);
    // Uploading it again and retrying publishes it whole.
    expect(
      (
        await call(
          `/v1/blobs/${file.sha256}`,
          authed(token, { method: 'PUT', body: v.files.get(file.path)! }),
        )
      ).status,
    ).toBe(201);
    const retry = await call(
      '/v1/models/orphan-race/versions',
      authed(token, {
        method: 'POST',
        body: JSON.stringify(v.manifest),
        headers: { 'content-type': 'application/json' },
      }),
    );
    expect(retry.status).toBe(201);
    await expectComplete('orphan-race', v);
    reportFigure(task, {
      area: 'faults',
      what: 'publish racing an orphan collection',
      count: 1,
      unit: 'races',
      failures: 0,
      note: '422 missing_blob, nothing visible; re-upload and retry publishes it whole',
    });
  });

  it('needs a publish token and a valid min_age', async () => {
    expect((await call('/v1/admin/orphans')).status).toBe(401);
    expect((await call('/v1/admin/orphans/collect', { method: 'POST' })).status).toBe(401);
    const token = await publishToken();
    for (const bad of ['-1', 'soon', '1.5', '999999999999']) {
      const res = await call(`/v1/admin/orphans?min_age=${bad}`, authed(token));
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_query');
    }
    expect((await listOrphans(token, 3600)).minAgeSeconds).toBe(3600);
    const defaults = (await (await call('/v1/admin/orphans', authed(token))).json()) as {
      minAgeSeconds: number;
    };
    expect(defaults.minAgeSeconds).toBe(3600);
  });
});
