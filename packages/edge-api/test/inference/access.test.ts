/**
 * Abuse and access on the inference Worker (issue 10) inside workerd, real local D1 and R2: the infer
 * endpoint's per-client rate limit (its counters in D1), security headers on every response and CORS
 * for inference. The registry's token checks, headers and CORS are in ../access.test.ts.
 */

import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { reportFigure } from '../../../../test/reliability.ts';
import { app } from '../../src/inference/index.ts';
import { addressBlock } from '../../src/ratelimit.ts';
import { SECURITY_HEADERS } from '../../src/security.ts';
import { BASE, call, fakeVersion, publish, publishToken } from '../helpers.ts';

const AREA = 'abuse and access';

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  return body.error;
}

describe('rate limit on the infer endpoint', () => {
  const LIMIT = 3;
  const WINDOW_S = 2;
  /** The real app and bindings with the limit turned on (the test configuration turns it off). */
  const limited = Object.assign(Object.create(env) as Env, {
    INFER_RATE_LIMIT: String(LIMIT),
    INFER_RATE_WINDOW_S: String(WINDOW_S),
  });
  const infer = (headers: Record<string, string>, path = '/v2/models/nosuch/infer') =>
    app.request(
      `${BASE}${path}`,
      { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: '{"inputs":[]}' },
      limited,
    );
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** What the route answers with the limit off: an admitted request must get the same. */
  let admitted: number;
  beforeAll(async () => {
    const res = await app.request(
      `${BASE}/v2/models/nosuch/infer`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"inputs":[]}' },
      env,
    );
    admitted = res.status;
    await res.arrayBuffer();
    expect(admitted).not.toBe(429);
  });

  /** Waits for the start of a fresh window, so a burst is not split across two. */
  async function freshWindow() {
    const ms = WINDOW_S * 1000;
    await sleep(ms - (Date.now() % ms) + 20);
  }

  it('gives one client LIMIT requests per window, then 429 with Retry-After; others are unaffected; the window resets', async ({
    task,
  }) => {
    await freshWindow();
    const a = { 'CF-Connecting-IP': '203.0.113.7' };
    const statuses: number[] = [];
    let tooMany: Response | undefined;
    for (let i = 0; i < LIMIT + 4; i++) {
      const res = await infer(a);
      statuses.push(res.status);
      if (res.status === 429) tooMany ??= res;
      else await res.arrayBuffer();
    }
    // Within the limit the request reaches the route (which refuses it: no such model); past it, 429.
    expect(statuses).toEqual([...Array(LIMIT).fill(admitted), ...Array(4).fill(429)]);
    const retryAfter = Number(tooMany!.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_S);
    expect(tooMany!.headers.get('access-control-allow-origin')).toBe('*');
    expect(tooMany!.headers.get('access-control-expose-headers')).toContain('Retry-After');
    expect(tooMany!.headers.get('x-content-type-options')).toBe('nosniff');
    const error = await errorOf(tooMany!);
    expect(error.code).toBe('rate_limited');
    expect(error.message).toContain(`${LIMIT} inference requests per ${WINDOW_S} s`);

    // Another address, the versioned route, and a live token behind the limited address: each its own.
    const others = [
      await infer({ 'CF-Connecting-IP': '198.51.100.2' }),
      await infer({ 'CF-Connecting-IP': '2001:db8:1::5' }, '/v2/models/nosuch/versions/1.0.0/infer'),
      await infer({ ...a, Authorization: `Bearer ${await publishToken()}` }),
    ];
    expect(others.map((r) => r.status)).toEqual([admitted, admitted, admitted]);
    // A made-up token is no way round the limit (it is refused: 401), and GETs and preflights are not
    // counted.
    const madeUp = await infer({ ...a, Authorization: `Bearer ecgtmp_${crypto.randomUUID()}` });
    expect(madeUp.status).toBe(401);
    const get = await app.request(`${BASE}/v2/models/nosuch`, { headers: a }, limited);
    expect(get.status).not.toBe(429);

    // After Retry-After seconds the client is admitted again.
    await sleep(retryAfter * 1000 + 20);
    const again = await infer(a);
    expect(again.status).toBe(admitted);
    const seen429 = statuses.filter((s) => s === 429).length + 1;
    reportFigure(task, {
      area: AREA,
      what: `infer burst from one client (limit ${LIMIT} per ${WINDOW_S} s)`,
      count: statuses.length + others.length + 2,
      unit: 'requests',
      failures: 0,
      note: `${seen429} × 429 with Retry-After ${retryAfter} s; other clients and a live token unaffected; admitted again after the window`,
    });
  });

  it('admits exactly LIMIT of a concurrent burst (the D1 counter is atomic) and counts an IPv6 /64 as one client', async ({
    task,
  }) => {
    await freshWindow();
    const burst = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        infer({ 'CF-Connecting-IP': `2001:db8:aa:bb:${i.toString(16)}::1` }),
      ),
    );
    const statuses = burst.map((r) => r.status);
    expect(statuses.filter((s) => s === admitted)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12 - LIMIT);
    expect(addressBlock('2001:db8:aa:bb:1::1')).toBe(addressBlock('2001:0db8:00aa:00bb:ffff::'));
    expect(addressBlock('2001:db8:aa:bc::1')).not.toBe(addressBlock('2001:db8:aa:bb::1'));
    expect(addressBlock('::ffff:192.0.2.1')).toBe('192.0.2.1');
    reportFigure(task, {
      area: AREA,
      what: 'concurrent infer burst from one IPv6 /64',
      count: burst.length,
      unit: 'requests',
      failures: Math.abs(statuses.filter((s) => s === admitted).length - LIMIT),
      note: `${statuses.filter((s) => s === 429).length} × 429`,
    });
  });
});

describe('security headers and CORS', () => {
  beforeAll(async () => {
    const token = await publishToken();
    const { manifest, files } = await fakeVersion('headers', '1.0.0');
    expect((await publish(token, 'headers', manifest, files)).status).toBe(201);
  });

  it('puts nosniff, a deny-all CSP, a referrer policy and no framing on every response, errors included', async ({
    task,
  }) => {
    const requests: [string, RequestInit?][] = [
      ['/v2'],
      ['/v2/health/live'],
      ['/v2/models/headers'],
      ['/v2/models/nosuch'],
      ['/v2/models/Bad..Name'],
      ['/v2/models/nosuch/infer', { method: 'POST', body: '{' }],
      ['/v2/no/such/route'],
      ['/v2/models/headers/infer', { method: 'OPTIONS', headers: { Origin: 'https://page.example' } }],
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
      what: 'security headers on inference responses, errors and 404s included',
      count: checked,
      unit: 'headers checked',
      failures: missing.length,
      note: `${requests.length} requests, statuses ${[...statuses].sort((x, y) => x - y).join(', ')}`,
    });
    expect(missing).toEqual([]);
    expect([...statuses]).toEqual(expect.arrayContaining([200, 204, 400, 404]));
  });

  it('answers CORS preflights for inference from any origin', async ({ task }) => {
    const origin = 'https://page.example';
    const paths = ['/v2/models/headers/infer', '/v2/models/headers/versions/1.0.0/infer'];
    const wrong: string[] = [];
    for (const path of paths) {
      const res = await call(path, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
      });
      if (res.headers.get('access-control-allow-origin') !== '*')
        wrong.push(`preflight POST ${path} refused`);
    }
    const read = await call('/v2/models/headers', { headers: { Origin: origin } });
    if (read.headers.get('access-control-allow-origin') !== '*') wrong.push('metadata GET without CORS');
    reportFigure(task, {
      area: AREA,
      what: 'CORS preflights and cross-origin requests to the inference Worker',
      count: paths.length + 1,
      unit: 'requests',
      failures: wrong.length,
    });
    expect(wrong).toEqual([]);
  });
});
