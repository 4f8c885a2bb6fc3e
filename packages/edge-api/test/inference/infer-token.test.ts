/**
 * An app's identity on the inference Worker (issue 18 §3) inside workerd, real local D1 and R2: an
 * `infer`-scoped token (hashed like publish tokens) sent as `Authorization: Bearer` on an infer — checked
 * (a wrong one is 401/403, never anonymous), counted against its own INFER_TOKEN_RATE_LIMIT apart from
 * the anonymous INFER_RATE_LIMIT — and the CORS vars on /v2: Authorization in every preflight, extra
 * headers from CORS_ALLOW_HEADERS, origins from CORS_ALLOW_ORIGINS, on the limiter's refusals too.
 */

import { env } from 'cloudflare:test';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { insertToken, sha256Hex } from '../../src/db/index.ts';
import type { Scope } from '../../src/db/tokens.ts';
import { app } from '../../src/inference/index.ts';
import { rateLimitConfig } from '../../src/ratelimit.ts';
import { BASE } from '../helpers.ts';

const LISTED = 'https://app.example';
const UNLISTED = 'https://other.example';
const INFER = '/v2/models/nosuch/infer';

/**
 * The real inference app's bindings with these vars (limits off unless a test turns them on). A copy:
 * `env` is a proxy, and a property set on an object made from it with Object.create reaches env itself.
 */
const withVars = (vars: Record<string, string>) =>
  ({ ...env, INFER_RATE_LIMIT: '0', INFER_TOKEN_RATE_LIMIT: '0', ...vars }) as unknown as Env;

/** A token stored as the token command stores it (its sha256), with these scopes. */
async function token(scopes: readonly string[], revoked = false): Promise<{ id: string; token: string }> {
  const value = `ecgtmp_${crypto.randomUUID().replaceAll('-', '')}${crypto.randomUUID().replaceAll('-', '')}`;
  const id = await insertToken(env.DB, value, scopes as Scope[], 'test app', new Date().toISOString());
  if (revoked)
    await env.DB.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ?')
      .bind(new Date().toISOString(), id)
      .run();
  return { id, token: value };
}

const infer = (vars: Record<string, string>, headers: Record<string, string>, path = INFER) =>
  app.request(
    `${BASE}${path}`,
    { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: '{"inputs":[]}' },
    withVars(vars),
  );

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  return body.error;
}

/** Whether a browser would let the request a preflight describes go on (origin and headers). */
function preflightAllows(res: Response, origin: string, headers: readonly string[]): boolean {
  const allowOrigin = res.headers.get('access-control-allow-origin');
  if (allowOrigin !== '*' && allowOrigin !== origin) return false;
  const allowed = (res.headers.get('access-control-allow-headers') ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  return headers.every((h) => allowed.includes(h.toLowerCase()));
}

const preflight = (vars: Record<string, string>, origin: string, headers: string, path = INFER) =>
  app.request(
    `${BASE}${path}`,
    {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': headers,
      },
    },
    withVars(vars),
  );

/** What the route answers an anonymous request with the limits off: an admitted request gets the same. */
let admitted: number;
beforeAll(async () => {
  const res = await infer({}, {});
  admitted = res.status;
  await res.arrayBuffer();
  expect([401, 403, 429]).not.toContain(admitted);
});

afterEach(() => vi.restoreAllMocks());

/** Waits for the start of a fresh rate-limit window, so a burst is not split across two. */
async function freshWindow(windowS: number) {
  const ms = windowS * 1000;
  await new Promise((r) => setTimeout(r, ms - (Date.now() % ms) + 20));
}

describe('CORS on /v2, configured', () => {
  it('admits Authorization in every /v2 preflight, so an infer token works cross-origin', async () => {
    for (const path of [INFER, '/v2/models/nosuch/versions/1.0.0/infer', '/v2/models/nosuch']) {
      const res = await preflight({}, UNLISTED, 'authorization,content-type', path);
      expect(preflightAllows(res, UNLISTED, ['Authorization', 'Content-Type']), path).toBe(true);
    }
  });

  it('admits an extra request header only when CORS_ALLOW_HEADERS lists it', async () => {
    const plain = await preflight({}, LISTED, 'content-type,x-app-version');
    expect(preflightAllows(plain, LISTED, ['Content-Type'])).toBe(true);
    expect(preflightAllows(plain, LISTED, ['X-App-Version'])).toBe(false);
    const configured = await preflight({ CORS_ALLOW_HEADERS: 'X-App-Version' }, LISTED, 'x-app-version');
    expect(preflightAllows(configured, LISTED, ['X-App-Version', 'Authorization', 'Content-Type'])).toBe(
      true,
    );
  });

  it('echoes a listed origin (Vary: Origin) and gives an unlisted one no Allow-Origin, on refusals too', async () => {
    const vars = { CORS_ALLOW_ORIGINS: LISTED };
    const listed = await preflight(vars, LISTED, 'authorization');
    expect(listed.headers.get('access-control-allow-origin')).toBe(LISTED);
    expect(listed.headers.get('vary')).toContain('Origin');
    const unlisted = await preflight(vars, UNLISTED, 'authorization');
    expect(unlisted.headers.get('access-control-allow-origin')).toBeNull();
    expect(unlisted.headers.get('vary')).toContain('Origin');

    const read = await app.request(`${BASE}/v2`, { headers: { Origin: LISTED } }, withVars(vars));
    expect(read.headers.get('access-control-allow-origin')).toBe(LISTED);
    const readUnlisted = await app.request(`${BASE}/v2`, { headers: { Origin: UNLISTED } }, withVars(vars));
    expect(readUnlisted.headers.get('access-control-allow-origin')).toBeNull();

    // The limiter answers before the route's CORS runs; its refusals follow the same origins.
    const unknown = `Bearer ecgtmp_${crypto.randomUUID()}`;
    const refused = await infer(vars, { Origin: LISTED, Authorization: unknown });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(LISTED);
    expect(refused.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
    expect(refused.headers.get('vary')).toContain('Origin');
    const refusedUnlisted = await infer(vars, { Origin: UNLISTED, Authorization: unknown });
    expect(refusedUnlisted.status).toBe(401);
    expect(refusedUnlisted.headers.get('access-control-allow-origin')).toBeNull();
    const anyOrigin = await infer({}, { Origin: UNLISTED, Authorization: unknown });
    expect(anyOrigin.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('an infer token', () => {
  it('authenticates an infer; a publish token does too; no token stays anonymous', async () => {
    const app1 = await token(['infer']);
    const publisher = await token(['publish']);
    for (const headers of [
      { Authorization: `Bearer ${app1.token}` },
      { Authorization: `Bearer ${publisher.token}` },
      {},
    ] as Record<string, string>[]) {
      const res = await infer({}, headers);
      await res.arrayBuffer();
      expect(res.status).toBe(admitted);
    }
    // D1 holds its sha256, never the token.
    const { results } = await env.DB.prepare('SELECT * FROM tokens WHERE id = ?').bind(app1.id).all();
    expect(JSON.stringify(results)).not.toContain(app1.token);
    expect(JSON.stringify(results)).toContain(await sha256Hex(app1.token));
  });

  it('refuses an unknown, malformed, revoked or wrong-scope token with 401/403, never as anonymous, and never echoes or logs it', async () => {
    const revoked = await token(['infer'], true);
    const readOnly = await token(['read']);
    const noScopes = await token([]);
    const cases: { name: string; authorization: string; status: 401 | 403; code: string }[] = [
      {
        name: 'unknown',
        authorization: `Bearer ecgtmp_${'x'.repeat(43)}`,
        status: 401,
        code: 'unauthorized',
      },
      { name: 'too short', authorization: 'Bearer abc', status: 401, code: 'unauthorized' },
      {
        name: 'basic auth',
        authorization: `Basic ${btoa(`app:${revoked.token}`)}`,
        status: 401,
        code: 'unauthorized',
      },
      { name: 'empty', authorization: '', status: 401, code: 'unauthorized' },
      { name: 'revoked', authorization: `Bearer ${revoked.token}`, status: 403, code: 'forbidden' },
      { name: 'read scope', authorization: `Bearer ${readOnly.token}`, status: 403, code: 'forbidden' },
      { name: 'no scopes', authorization: `Bearer ${noScopes.token}`, status: 403, code: 'forbidden' },
    ];
    const secrets = [revoked.token, readOnly.token, noScopes.token];
    const logged: string[] = [];
    for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const)
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
        logged.push(args.map(String).join(' '));
      });
    // With the limits off (the token is checked all the same) and on (it is checked before counting).
    for (const vars of [{}, { INFER_RATE_LIMIT: '100', INFER_TOKEN_RATE_LIMIT: '100' }] as Record<
      string,
      string
    >[]) {
      for (const c of cases) {
        const res = await infer(vars, { Authorization: c.authorization });
        const headers = JSON.stringify([...res.headers]);
        const error = await errorOf(res);
        expect([res.status, error.code], c.name).toEqual([c.status, c.code]);
        if (c.status === 401) expect(res.headers.get('www-authenticate'), c.name).toMatch(/^Bearer /);
        if (c.status === 403)
          expect(error.message, c.name).toMatch(/revoked|lacks the infer or publish scope/);
        expect(
          secrets.some((s) => headers.includes(s) || error.message.includes(s)),
          c.name,
        ).toBe(false);
      }
    }
    expect(secrets.filter((s) => logged.join('\n').includes(s))).toEqual([]);
  });

  it('is counted against its own INFER_TOKEN_RATE_LIMIT (429 after it), apart from the anonymous limit', async () => {
    const TOKEN_LIMIT = 2;
    const LIMIT = 3;
    const WINDOW_S = 4;
    const vars = {
      INFER_RATE_LIMIT: String(LIMIT),
      INFER_TOKEN_RATE_LIMIT: String(TOKEN_LIMIT),
      INFER_RATE_WINDOW_S: String(WINDOW_S),
    };
    const ip = { 'CF-Connecting-IP': '203.0.113.77' };
    const first = await token(['infer']);
    const second = await token(['infer']);
    const status = async (headers: Record<string, string>) => {
      const res = await infer(vars, { ...ip, ...headers });
      if (res.status !== 429) await res.arrayBuffer();
      return res;
    };
    await freshWindow(WINDOW_S);

    const auth = (t: { token: string }) => ({ Authorization: `Bearer ${t.token}` });
    const tokenStatuses: number[] = [];
    let tooMany: Response | undefined;
    for (let i = 0; i < TOKEN_LIMIT + 2; i++) {
      const res = await status(auth(first));
      tokenStatuses.push(res.status);
      if (res.status === 429) tooMany ??= res;
    }
    expect(tokenStatuses).toEqual([...Array(TOKEN_LIMIT).fill(admitted), 429, 429]);
    expect(Number(tooMany!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(tooMany!.headers.get('access-control-allow-origin')).toBe('*');
    const error = await errorOf(tooMany!);
    expect(error.code).toBe('rate_limited');
    expect(error.message).toContain(
      `this token may make ${TOKEN_LIMIT} inference requests per ${WINDOW_S} s`,
    );
    expect(error.message).not.toContain(first.token);

    // The same address without the token, and another token behind it: their own allowances.
    const anonymous: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) anonymous.push((await status({})).status);
    expect(anonymous).toEqual([...Array(LIMIT).fill(admitted), 429]);
    expect((await status(auth(second))).status).toBe(admitted);
    // The exhausted token stays refused, whatever the address.
    expect((await infer(vars, { 'CF-Connecting-IP': '198.51.100.9', ...auth(first) })).status).toBe(429);

    const { results } = await env.DB.prepare('SELECT key, count FROM rate_limits WHERE key IN (?, ?, ?)')
      .bind(`token:${first.id}`, `token:${second.id}`, 'ip:203.0.113.77')
      .all<{ key: string; count: number }>();
    expect(Object.fromEntries(results.map((r) => [r.key, r.count]))).toEqual({
      [`token:${first.id}`]: TOKEN_LIMIT + 3,
      [`token:${second.id}`]: 1,
      'ip:203.0.113.77': LIMIT + 1,
    });
  });

  it('is not limited when INFER_TOKEN_RATE_LIMIT is 0, while anonymous clients still are', async () => {
    const vars = { INFER_RATE_LIMIT: '1', INFER_TOKEN_RATE_LIMIT: '0', INFER_RATE_WINDOW_S: '2' };
    const t = await token(['infer']);
    const ip = { 'CF-Connecting-IP': '203.0.113.78' };
    await freshWindow(2);
    for (let i = 0; i < 3; i++) {
      const res = await infer(vars, { ...ip, Authorization: `Bearer ${t.token}` });
      await res.arrayBuffer();
      expect(res.status).toBe(admitted);
    }
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await infer(vars, ip);
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([admitted, 429]);
  });

  it('treats a malformed INFER_TOKEN_RATE_LIMIT as a deployment error that names the var', async () => {
    for (const bad of ['-1', '1.5', 'many', '1e400'])
      expect(() => rateLimitConfig({ INFER_TOKEN_RATE_LIMIT: bad }), bad).toThrow(
        /^INFER_TOKEN_RATE_LIMIT must be a whole number ≥ 0/,
      );
    expect(rateLimitConfig({})).toEqual({ limit: 0, tokenLimit: 0, windowS: 60 });
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
    const res = await infer({ INFER_TOKEN_RATE_LIMIT: 'many' }, {});
    expect(res.status).toBe(500);
    expect((await errorOf(res)).code).toBe('internal');
    expect(logged.join('\n')).toContain('INFER_TOKEN_RATE_LIMIT must be');
  });
});
