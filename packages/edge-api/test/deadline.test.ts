/**
 * The storage deadline on the registry Worker (src/deadline.ts) inside workerd, real local D1 and R2
 * wrapped so that one chosen call stalls (test/faulty-env.ts): every kind of D1 and R2 call the
 * registry makes — reads, the token lookup, publish writes, blob head/get/put, the orphan list and
 * delete — answers 503 `storage_timeout` with Retry-After within the deadline instead of hanging, and a
 * publish cut short that way is never visible torn.
 */

import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { DEFAULT_STORAGE_TIMEOUT_MS, storageTimeoutMs } from '../src/deadline.ts';
import { app } from '../src/index.ts';
import { type Fault, faultyEnv } from './faulty-env.ts';
import { call, fakeVersion, publish, publishForm, publishToken } from './helpers.ts';

/** A short deadline, so a stall is found out quickly; the slack covers a busy test machine. */
const DEADLINE_MS = 200;
const SLACK_MS = 3_000;

interface Stall {
  readonly label: string;
  readonly fault: Omit<Fault, 'kind' | 'nth'> & { nth?: number };
  readonly request: () => Promise<[string, RequestInit]>;
}

async function expectTimeout(res: Response, elapsedMs: number, method = 'GET'): Promise<string[]> {
  const problems: string[] = [];
  if (res.status !== 503) problems.push(`status ${res.status}`);
  if (res.headers.get('retry-after') !== '1') problems.push(`Retry-After ${res.headers.get('retry-after')}`);
  if (elapsedMs > DEADLINE_MS + SLACK_MS) problems.push(`answered after ${elapsedMs} ms`);
  if (elapsedMs < DEADLINE_MS - 5) problems.push(`answered before the deadline (${elapsedMs} ms)`);
  // A HEAD answer has no body to carry the code.
  if (method === 'HEAD') return problems;
  const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
  if (body?.error?.code !== 'storage_timeout') problems.push(`error code ${body?.error?.code}`);
  return problems;
}

describe('a stalled D1 or R2 call', () => {
  it('answers 503 storage_timeout with Retry-After within the deadline on every kind of call', async ({
    task,
  }) => {
    const token = await publishToken();
    const auth = { Authorization: `Bearer ${token}` };
    const stored = await fakeVersion('deadline-stored', '1.0.0');
    expect((await publish(token, 'deadline-stored', stored.manifest, stored.files)).status).toBe(201);
    const sha256 = stored.manifest.files[0]!.sha256;
    // An orphan blob (PUT, named by no version) for the collect route to delete.
    const orphan = new TextEncoder().encode(`orphan ${crypto.randomUUID()}`);
    const orphanSha = [...new Uint8Array(await crypto.subtle.digest('SHA-256', orphan))]
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('');
    expect(
      (await call(`/v1/blobs/${orphanSha}`, { method: 'PUT', headers: auth, body: orphan })).status,
    ).toBe(201);
    const fresh = (name: string) => fakeVersion(name, '1.0.0', ['one graph', 'two graph']);

    const stalls: Stall[] = [
      { label: 'D1 read: the model list', fault: { on: 'd1' }, request: async () => ['/v1/models', {}] },
      {
        label: 'D1 read: a version through an alias',
        fault: { on: 'd1', sql: /aliases/ },
        request: async () => ['/v1/models/deadline-stored/versions/latest', {}],
      },
      {
        label: 'D1 read: the token lookup of a write',
        fault: { on: 'd1', sql: /tokens/ },
        request: async () => [
          '/v1/models/deadline-stored/versions/1.0.0',
          { method: 'DELETE', headers: auth },
        ],
      },
      {
        label: 'D1 write: the version row of a publish',
        fault: { on: 'd1', sql: /INTO versions/ },
        request: async () => {
          const v = await fresh('deadline-torn');
          return [
            '/v1/models/deadline-torn/versions',
            { method: 'POST', headers: auth, body: publishForm(v.manifest, v.files) },
          ];
        },
      },
      {
        label: 'D1 write: a blob row',
        fault: { on: 'd1', sql: /INSERT INTO blobs/ },
        request: async () => [`/v1/blobs/${orphanSha}`, { method: 'PUT', headers: auth, body: orphan }],
      },
      {
        label: 'R2 put: a blob upload',
        fault: { on: 'r2.put' },
        request: async () => [`/v1/blobs/${orphanSha}`, { method: 'PUT', headers: auth, body: orphan }],
      },
      {
        label: 'R2 put: a file of a multipart publish',
        fault: { on: 'r2.put', nth: 2 },
        request: async () => {
          const v = await fresh('deadline-put');
          return [
            '/v1/models/deadline-put/versions',
            { method: 'POST', headers: auth, body: publishForm(v.manifest, v.files) },
          ];
        },
      },
      {
        label: 'R2 head: a blob HEAD',
        fault: { on: 'r2.head' },
        request: async () => [`/v1/blobs/${sha256}`, { method: 'HEAD' }],
      },
      {
        label: 'R2 get: a blob download',
        fault: { on: 'r2.get' },
        request: async () => [`/v1/blobs/${sha256}`, {}],
      },
      {
        label: 'R2 list: the orphan listing',
        fault: { on: 'r2.list' },
        request: async () => ['/v1/admin/orphans?min_age=0', { headers: auth }],
      },
      {
        label: 'R2 delete: collecting orphans',
        fault: { on: 'r2.delete' },
        request: async () => ['/v1/admin/orphans/collect?min_age=0', { method: 'POST', headers: auth }],
      },
    ];

    const failures: string[] = [];
    for (const { label, fault, request } of stalls) {
      const faulty = faultyEnv(env, [{ nth: 1, ...fault, kind: 'stall' }]);
      const timedEnv = { ...faulty.env, STORAGE_TIMEOUT_MS: String(DEADLINE_MS) };
      const [path, init] = await request();
      const started = Date.now();
      const res = await app.request(path, init, timedEnv);
      const elapsed = Date.now() - started;
      const problems = await expectTimeout(res, elapsed, init.method);
      if (faulty.fired() !== 1) problems.push(`${faulty.fired()} faults fired`);
      // The stalled call goes on once storage resumes; what it leaves must be whole or absent.
      faulty.release();
      failures.push(...problems.map((p) => `${label}: ${p}`));
    }
    // The publish cut short at its version row: the version is either absent or whole, never torn.
    const torn = await call('/v1/models/deadline-torn/versions/1.0.0');
    if (torn.status === 200) {
      const served = (await torn.json()) as { files: { sha256: string }[] };
      for (const f of served.files)
        if ((await call(`/v1/blobs/${f.sha256}`)).status !== 200) failures.push('torn publish visible');
    } else if (torn.status !== 404) failures.push(`the cut-short version answers ${torn.status}`);

    reportFigure(task, {
      area: 'faults',
      what: 'a stalled D1/R2 call on the registry (deadline 200 ms)',
      count: stalls.length,
      unit: 'stalls injected',
      failures: failures.length,
      note: 'every kind of D1 read/write and R2 head/get/put/list/delete: 503 storage_timeout with Retry-After, no hang',
    });
    expect(failures).toEqual([]);
  });

  it('a blob download whose body stalls after its headers ends short within the deadline, never hangs', async () => {
    const token = await publishToken();
    // Large enough for several chunks; random, so nothing compresses it into one.
    const bytes = crypto.getRandomValues(new Uint8Array(60_000));
    const big = new Uint8Array(600_000);
    for (let i = 0; i < 10; i++) big.set(bytes, i * bytes.length);
    big[0] = 1;
    const sha = [...new Uint8Array(await crypto.subtle.digest('SHA-256', big))]
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('');
    const put = await call(`/v1/blobs/${sha}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}` },
      body: big,
    });
    expect(put.status).toBe(201);
    for (const range of [undefined, 'bytes=1000-']) {
      const faulty = faultyEnv(env, [{ on: 'r2.body', nth: 1, kind: 'stall' }]);
      const timedEnv = { ...faulty.env, STORAGE_TIMEOUT_MS: String(DEADLINE_MS) };
      const started = Date.now();
      const res = await app.request(`/v1/blobs/${sha}`, range ? { headers: { Range: range } } : {}, timedEnv);
      // The headers went out before the stall: the status and the whole length are declared.
      expect(res.status).toBe(range ? 206 : 200);
      expect(Number(res.headers.get('content-length'))).toBe(range ? big.length - 1000 : big.length);
      const read = await res.arrayBuffer().then(
        (b) => `read ${b.byteLength} bytes`,
        (err: unknown) => `failed: ${(err as Error).message}`,
      );
      const elapsed = Date.now() - started;
      faulty.release();
      expect(faulty.fired()).toBe(1);
      // Never a whole-looking body: the transfer fails, and well before a client would give up.
      expect(read).toMatch(/^failed/);
      expect(elapsed).toBeLessThan(DEADLINE_MS + SLACK_MS);
    }
    // Unstalled, the same download is whole.
    const whole = await app.request(
      `/v1/blobs/${sha}`,
      {},
      { ...env, STORAGE_TIMEOUT_MS: String(DEADLINE_MS) },
    );
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(big);
  });

  it('keeps the default deadline unless STORAGE_TIMEOUT_MS says otherwise, and refuses a bad one', () => {
    expect(storageTimeoutMs({})).toBe(DEFAULT_STORAGE_TIMEOUT_MS);
    expect(storageTimeoutMs({ STORAGE_TIMEOUT_MS: '250' })).toBe(250);
    expect(storageTimeoutMs(env)).toBe(10_000);
    for (const bad of ['0', '-1', '1.5', 'soon', ''])
      expect(() => storageTimeoutMs({ STORAGE_TIMEOUT_MS: bad })).toThrow(/STORAGE_TIMEOUT_MS/);
  });
});
