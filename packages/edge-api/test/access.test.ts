/**
 * Abuse and access (issue 10) inside workerd, real local D1 and R2: writes with missing, malformed,
 * unknown, probing, revoked and wrong-scope tokens (401/403, nothing changes, no token ever logged,
 * echoed or stored); security headers on every registry response and CORS only for reads. The
 * inference Worker's rate limit, headers and CORS are in inference/access.test.ts.
 */

import { env } from 'cloudflare:test';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { findToken, insertToken, sha256Hex } from '../src/db/index.ts';
import { app } from '../src/index.ts';
import { SECURITY_HEADERS } from '../src/security.ts';
import { BASE, call, fakeVersion, publish, publishForm, publishToken, snapshot } from './helpers.ts';

const AREA = 'abuse and access';

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  return body.error;
}

/** Everything the Worker writes to the console while `fn` runs. */
async function captureConsole<T>(fn: () => Promise<T>): Promise<{ result: T; logged: string }> {
  const lines: string[] = [];
  const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : String(a))).join(' '));
    }),
  );
  try {
    return { result: await fn(), logged: lines.join('\n') };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('writes need a live token with the publish scope', () => {
  let valid: string;
  let revoked: string;
  let readOnly: string;
  let noScopes: string;
  let blob: { sha256: string; bytes: Uint8Array };

  beforeAll(async () => {
    valid = `ecgtmp_${crypto.randomUUID().replaceAll('-', '')}${crypto.randomUUID().replaceAll('-', '')}`;
    await insertToken(env.DB, valid, ['publish'], 'valid', new Date().toISOString());
    revoked = await publishToken();
    await env.DB.prepare('UPDATE tokens SET revoked_at = ? WHERE hash = ?')
      .bind(new Date().toISOString(), await sha256Hex(revoked))
      .run();
    // Scopes the edge does not grant writes to, stored as the token command would store them.
    readOnly = `ecgtmp_read_${crypto.randomUUID()}`;
    noScopes = `ecgtmp_none_${crypto.randomUUID()}`;
    for (const [t, scopes] of [
      [readOnly, 'read'],
      [noScopes, ''],
    ] as const) {
      await env.DB.prepare('INSERT INTO tokens (id, hash, scopes, label, created_at) VALUES (?, ?, ?, ?, ?)')
        .bind(crypto.randomUUID(), await sha256Hex(t), scopes, 'scope test', new Date().toISOString())
        .run();
    }
    for (const v of ['1.0.0', '1.1.0']) {
      const { manifest, files } = await fakeVersion('guarded', v);
      expect((await publish(valid, 'guarded', manifest, files)).status).toBe(201);
    }
    const alias = await call('/v1/models/guarded/aliases/stable', {
      method: 'PUT',
      headers: { Authorization: `Bearer ${valid}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ version: '1.0.0' }),
    });
    expect(alias.status).toBe(200);
    const bytes = new TextEncoder().encode(`a blob nobody may upload ${crypto.randomUUID()}`);
    blob = { sha256: await sha256Hex(bytes), bytes };
  });

  /** The four writes, each of which would change D1 or R2 if it were admitted. */
  async function writes(authorization: string | undefined): Promise<Response[]> {
    const auth: Record<string, string> = authorization === undefined ? {} : { Authorization: authorization };
    const next = await fakeVersion('guarded', '2.0.0', ['new graph']);
    return [
      await call('/v1/models/guarded/versions', {
        method: 'POST',
        headers: auth,
        body: publishForm(next.manifest, next.files),
      }),
      await call('/v1/models/guarded/aliases/stable', {
        method: 'PUT',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ version: '1.1.0' }),
      }),
      await call('/v1/models/guarded/versions/1.1.0', { method: 'DELETE', headers: auth }),
      await call(`/v1/blobs/${blob.sha256}`, { method: 'PUT', headers: auth, body: blob.bytes }),
    ];
  }

  it('refuses missing, malformed, unknown, revoked and wrong-scope tokens with 401/403 and changes nothing', async ({
    task,
  }) => {
    const flip = (s: string, i: number) => `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    const cases: { name: string; authorization: string | undefined; status: 401 | 403; code: string }[] = [
      { name: 'no header', authorization: undefined, status: 401, code: 'unauthorized' },
      { name: 'empty', authorization: '', status: 401, code: 'unauthorized' },
      { name: 'scheme only', authorization: 'Bearer', status: 401, code: 'unauthorized' },
      {
        name: 'basic auth',
        authorization: `Basic ${btoa(`user:${valid}`)}`,
        status: 401,
        code: 'unauthorized',
      },
      { name: 'token without scheme', authorization: valid, status: 401, code: 'unauthorized' },
      { name: 'two spaces', authorization: `Bearer  ${valid}`, status: 401, code: 'unauthorized' },
      { name: 'too short', authorization: 'Bearer abc', status: 401, code: 'unauthorized' },
      { name: 'too long', authorization: `Bearer ${valid.repeat(8)}`, status: 401, code: 'unauthorized' },
      { name: 'two tokens', authorization: `Bearer ${valid} ${valid}`, status: 401, code: 'unauthorized' },
      {
        name: 'unknown',
        authorization: `Bearer ecgtmp_${'x'.repeat(43)}`,
        status: 401,
        code: 'unauthorized',
      },
      { name: 'truncated', authorization: `Bearer ${valid.slice(0, -1)}`, status: 401, code: 'unauthorized' },
      { name: 'extended', authorization: `Bearer ${valid}x`, status: 401, code: 'unauthorized' },
      {
        name: 'last char changed',
        authorization: `Bearer ${flip(valid, valid.length - 1)}`,
        status: 401,
        code: 'unauthorized',
      },
      {
        name: 'first char changed',
        authorization: `Bearer ${flip(valid, 0)}`,
        status: 401,
        code: 'unauthorized',
      },
      {
        name: 'upper-cased',
        authorization: `Bearer ${valid.toUpperCase()}`,
        status: 401,
        code: 'unauthorized',
      },
      {
        name: 'its hash',
        authorization: `Bearer ${await sha256Hex(valid)}`,
        status: 401,
        code: 'unauthorized',
      },
      { name: 'revoked', authorization: `Bearer ${revoked}`, status: 403, code: 'forbidden' },
      { name: 'read scope', authorization: `Bearer ${readOnly}`, status: 403, code: 'forbidden' },
      { name: 'no scopes', authorization: `Bearer ${noScopes}`, status: 403, code: 'forbidden' },
    ];
    const secrets = [valid, revoked, readOnly, noScopes];
    const before = await snapshot();
    let requests = 0;
    const failures: string[] = [];
    const { logged } = await captureConsole(async () => {
      for (const c of cases) {
        const responses = await writes(c.authorization);
        for (const [i, res] of responses.entries()) {
          requests++;
          const text = await res.text();
          const headers = JSON.stringify([...res.headers]);
          let code: string | undefined;
          try {
            code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
          } catch {
            code = undefined;
          }
          const echoed = secrets.some((s) => text.includes(s) || headers.includes(s));
          if (res.status !== c.status || code !== c.code || echoed) {
            failures.push(`${c.name} / write ${i}: ${res.status} ${code}${echoed ? ' (token echoed)' : ''}`);
          }
          if (res.status === 401 && !res.headers.get('www-authenticate')?.startsWith('Bearer '))
            failures.push(`${c.name} / write ${i}: 401 without a Bearer challenge`);
        }
      }
    });
    const after = await snapshot();
    const leaked = secrets.filter((s) => logged.includes(s));
    reportFigure(task, {
      area: AREA,
      what: 'writes (publish, alias move, delete, blob PUT) with bad tokens',
      count: requests,
      unit: 'requests',
      failures: failures.length + leaked.length + (after === before ? 0 : 1),
      note: `${cases.length} token cases × 4 writes; D1 + R2 unchanged; no token in responses or logs`,
    });
    expect(failures).toEqual([]);
    expect(leaked).toEqual([]);
    expect(after).toBe(before);
  });

  it('admits the same writes with the live publish token (so the refusals above were the token’s doing)', async () => {
    const before = await snapshot();
    const { result, logged } = await captureConsole(() => writes(`Bearer ${valid}`));
    expect(result.map((r) => r.status)).toEqual([201, 200, 409, 201]);
    // 1.1.0 is now stable, so the delete is refused as aliased — by the route, after the token passed.
    expect((await errorOf(result[2]!)).code).toBe('version_aliased');
    expect(await snapshot()).not.toBe(before);
    expect(logged).not.toContain(valid);
  });

  it('never stores a token: D1 holds only its sha256', async () => {
    const dump = JSON.stringify(
      await Promise.all(
        ['versions', 'aliases', 'blobs', 'tokens'].map(
          async (t) => (await env.DB.prepare(`SELECT * FROM ${t}`).all()).results,
        ),
      ),
    );
    for (const t of [valid, revoked, readOnly, noScopes]) {
      expect(dump).not.toContain(t);
      expect(dump).toContain(await sha256Hex(t));
    }
  });

  it('looks a token up by its sha256 and compares equal-length hashes, so a probe learns nothing from a shared prefix', async ({
    task,
  }) => {
    // Wrap D1 to see what the lookup binds: it must be the probe's 64-hex-digit hash, never the probe.
    const bound: unknown[][] = [];
    const db = new Proxy(env.DB, {
      get(target, prop) {
        if (prop !== 'prepare') return Reflect.get(target, prop, target);
        return (sql: string) => {
          const stmt = target.prepare(sql);
          return new Proxy(stmt, {
            get(s, p) {
              if (p !== 'bind') return Reflect.get(s, p, s);
              return (...args: unknown[]) => {
                bound.push(args);
                return s.bind(...args);
              };
            },
          });
        };
      },
    });
    const validHash = await sha256Hex(valid);
    const probes = [
      ...Array.from({ length: 20 }, (_, i) => `${valid.slice(0, valid.length - 1 - i)}${'#'.repeat(i + 1)}`),
      ...Array.from({ length: 20 }, (_, i) => `#${valid.slice(1, valid.length - i)}${'#'.repeat(i)}`),
    ];
    let failures = 0;
    let longestHashPrefix = 0;
    for (const probe of probes) {
      bound.length = 0;
      expect(await findToken(db, probe)).toBeNull();
      const hash = await sha256Hex(probe);
      if (bound.length !== 1 || bound[0]!.length !== 1 || bound[0]![0] !== hash) failures++;
      if (typeof bound[0]?.[0] !== 'string' || (bound[0][0] as string).length !== validHash.length)
        failures++;
      let shared = 0;
      while (shared < hash.length && hash[shared] === validHash[shared]) shared++;
      longestHashPrefix = Math.max(longestHashPrefix, shared);
    }
    // A probe sharing all but one character with the token shares no usable prefix with its hash.
    expect(longestHashPrefix).toBeLessThan(8);
    expect(await findToken(db, valid)).not.toBeNull();
    expect(bound.at(-1)).toEqual([validHash]);

    // The end-to-end refusal for both kinds of probe, timed for the record (not asserted: wall-clock
    // timing inside a shared test runner is noise; the guarantee is the hash-then-compare above).
    const mean = async (tokens: string[]) => {
      const t0 = performance.now();
      for (const t of tokens) {
        const res = await call('/v1/models/guarded/versions/1.0.0', {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${t}` },
        });
        if (res.status !== 401) failures++;
        await res.arrayBuffer();
      }
      return (performance.now() - t0) / tokens.length;
    };
    const near = Array.from(
      { length: 40 },
      (_, i) => `${valid.slice(0, -2)}${String(i).padStart(2, '0')}`,
    ).filter((t) => t !== valid);
    const far = Array.from({ length: 40 }, (_, i) => `Z${String(i).padStart(2, '0')}${valid.slice(3)}`);
    const nearMs = await mean(near);
    const farMs = await mean(far);
    reportFigure(task, {
      area: AREA,
      what: 'timing probes: tokens sharing a long prefix vs differing at the first character',
      count: probes.length + near.length + far.length,
      unit: 'tokens',
      failures,
      note: `looked up by sha256 (64 hex), compared in constant time; longest hash prefix shared ${longestHashPrefix}; mean refusal ${nearMs.toFixed(2)} ms (near) vs ${farMs.toFixed(2)} ms (far), not asserted`,
    });
    expect(failures).toBe(0);
  });
});

describe('security headers and CORS', () => {
  let sha256: string;
  beforeAll(async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('headers', '1.0.0');
    expect((await publish(token, 'headers', manifest, files)).status).toBe(201);
    sha256 = manifest.files[0]!.sha256;
  });

  it('puts nosniff, a deny-all CSP, a referrer policy and no framing on every response, errors included', async ({
    task,
  }) => {
    const requests: [string, RequestInit?][] = [
      ['/v1/models'],
      ['/v1/models/headers'],
      ['/v1/models/headers/versions/1.0.0'],
      ['/v1/models/nosuch'],
      ['/v1/models/Bad..Name'],
      [`/v1/blobs/${sha256}`],
      [`/v1/blobs/${sha256}`, { method: 'HEAD' }],
      [`/v1/blobs/${sha256}`, { headers: { 'If-None-Match': `"${sha256}"` } }],
      [`/v1/blobs/${sha256}`, { headers: { Range: 'bytes=0-3' } }],
      [`/v1/blobs/${sha256}`, { headers: { Range: 'bytes=999999-' } }],
      ['/v1/blobs/not-a-digest'],
      ['/v1/models/headers/versions', { method: 'POST' }],
      ['/v1/models/headers/versions/1.0.0', { method: 'DELETE', headers: { Authorization: 'Bearer nope' } }],
      ['/no/such/route'],
      ['/v1/models/headers', { method: 'OPTIONS', headers: { Origin: 'https://page.example' } }],
    ];
    let checked = 0;
    const missing: string[] = [];
    const statuses = new Set<number>();
    for (const [path, init] of requests) {
      const res = await call(path, init);
      await res.arrayBuffer();
      statuses.add(res.status);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        checked++;
        if (res.headers.get(name) !== value) missing.push(`${init?.method ?? 'GET'} ${path}: ${name}`);
      }
      checked++;
      if (res.headers.get('strict-transport-security') === null) missing.push(`${path}: HSTS over https`);
    }
    reportFigure(task, {
      area: AREA,
      what: 'security headers on registry responses, errors and 404s included',
      count: checked,
      unit: 'headers checked',
      failures: missing.length,
      note: `${requests.length} requests, statuses ${[...statuses].sort((x, y) => x - y).join(', ')}`,
    });
    expect(missing).toEqual([]);
    expect([...statuses]).toEqual(expect.arrayContaining([200, 204, 206, 304, 400, 401, 404, 416]));
  });

  it('answers CORS for reads, never for publish, alias moves, deletes or blob uploads', async ({ task }) => {
    const origin = 'https://page.example';
    const preflight = (path: string, method: string) =>
      call(path, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': method },
      });
    const allowed: [string, string][] = [
      ['/v1/models/headers', 'GET'],
      ['/v1/models/headers/versions/1.0.0', 'GET'],
      [`/v1/blobs/${sha256}`, 'GET'],
    ];
    const refused: [string, string][] = [
      ['/v1/models/headers/versions', 'POST'],
      ['/v1/models/headers/aliases/stable', 'PUT'],
      ['/v1/models/headers/versions/1.0.0', 'DELETE'],
      [`/v1/blobs/${sha256}`, 'PUT'],
      [`/v1/blobs/${sha256}`, 'DELETE'],
    ];
    const wrong: string[] = [];
    for (const [path, method] of allowed) {
      const res = await preflight(path, method);
      if (res.headers.get('access-control-allow-origin') !== '*')
        wrong.push(`preflight ${method} ${path} refused`);
    }
    for (const [path, method] of refused) {
      const res = await preflight(path, method);
      const cors = [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));
      if (res.status >= 500 || cors.length > 0) wrong.push(`preflight ${method} ${path} answered ${cors}`);
    }
    // The writes themselves (refused for the token) carry no CORS header either; reads do.
    const token = await publishToken();
    const writes = [
      await call('/v1/models/headers/versions/1.0.0', { method: 'DELETE', headers: { Origin: origin } }),
      await call(`/v1/blobs/${sha256}`, {
        method: 'PUT',
        headers: { Origin: origin, Authorization: `Bearer ${token}` },
        body: 'not the digest',
      }),
    ];
    for (const res of writes) {
      if (res.status >= 500 || res.headers.get('access-control-allow-origin') !== null)
        wrong.push(`write answered ${res.status} with CORS`);
    }
    const read = await call(`/v1/blobs/${sha256}`, { headers: { Origin: origin } });
    if (read.headers.get('access-control-allow-origin') !== '*') wrong.push('blob GET without CORS');
    reportFigure(task, {
      area: AREA,
      what: 'CORS preflights and cross-origin requests to the registry (reads allowed, writes refused)',
      count: allowed.length + refused.length + writes.length + 1,
      unit: 'requests',
      failures: wrong.length,
    });
    expect(wrong).toEqual([]);
  });
});

describe('console capture', () => {
  it('sees what the Worker logs (so the token checks above could fail)', async () => {
    // An unexpected failure in a binding is logged by the app's onError; the capture must see it.
    const broken = Object.assign(Object.create(env) as Env, {
      DB: new Proxy(env.DB, {
        get: (t, p) =>
          p === 'prepare'
            ? () => {
                throw new Error('injected D1 failure');
              }
            : Reflect.get(t, p, t),
      }),
    });
    const { result, logged } = await captureConsole(() =>
      Promise.resolve(app.request(`${BASE}/v1/models`, {}, broken)),
    );
    expect(result.status).toBe(500);
    expect(logged).toContain('injected D1 failure');
  });
});
