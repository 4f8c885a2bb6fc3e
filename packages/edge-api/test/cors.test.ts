/**
 * CORS configured by `[vars]` on the registry Worker (issue 18 §3) inside workerd, real local D1 and R2:
 * CORS_ALLOW_ORIGINS (a listed origin is echoed, an unlisted one gets nothing, responses vary by Origin),
 * CORS_ALLOW_HEADERS (an extra request header passes a blob preflight only when configured), writes still
 * never cross-origin, and a malformed value is a named deployment error. The inference Worker's side
 * (its preflights, an app's infer token) is in inference/infer-token.test.ts.
 */

import { env } from 'cloudflare:test';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { corsConfig } from '../src/cors.ts';
import { app } from '../src/index.ts';
import { BASE, fakeVersion, publish, publishToken } from './helpers.ts';

/**
 * The real registry app's bindings with these vars, as a deployment would set them. A copy: `env` is a
 * proxy, and a property set on an object made from it with Object.create reaches env itself.
 */
const withVars = (vars: Record<string, string>) => ({ ...env, ...vars }) as Env;

const LISTED = 'https://app.example';
const UNLISTED = 'https://other.example';

/** Whether a browser would let the request a preflight describes go on (origin and header). */
function preflightAllows(res: Response, origin: string, header?: string): boolean {
  const allowOrigin = res.headers.get('access-control-allow-origin');
  if (allowOrigin !== '*' && allowOrigin !== origin) return false;
  if (header === undefined) return true;
  const allowed = (res.headers.get('access-control-allow-headers') ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  return allowed.includes(header.toLowerCase());
}

afterEach(() => vi.restoreAllMocks());

describe('configurable CORS on the registry', () => {
  let sha256: string;
  beforeAll(async () => {
    const { manifest, files } = await fakeVersion('cors', '1.0.0');
    expect((await publish(await publishToken(), 'cors', manifest, files)).status).toBe(201);
    sha256 = manifest.files[0]!.sha256;
  });

  const preflight = (vars: Record<string, string>, path: string, origin: string, headers?: string) =>
    app.request(
      `${BASE}${path}`,
      {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'GET',
          ...(headers === undefined ? {} : { 'Access-Control-Request-Headers': headers }),
        },
      },
      withVars(vars),
    );

  it('admits an extra request header on a blob preflight only when CORS_ALLOW_HEADERS lists it', async () => {
    const path = `/v1/blobs/${sha256}`;
    const plain = await preflight({}, path, LISTED, 'x-app-version');
    expect(preflightAllows(plain, LISTED)).toBe(true);
    expect(preflightAllows(plain, LISTED, 'X-App-Version')).toBe(false);

    const configured = await preflight(
      { CORS_ALLOW_HEADERS: 'X-App-Version, X-Request-Id' },
      path,
      LISTED,
      'range,x-app-version',
    );
    expect(preflightAllows(configured, LISTED, 'X-App-Version')).toBe(true);
    expect(preflightAllows(configured, LISTED, 'X-Request-Id')).toBe(true);
    // The route's own headers stay.
    expect(preflightAllows(configured, LISTED, 'Range')).toBe(true);
    expect(preflightAllows(configured, LISTED, 'If-None-Match')).toBe(true);
    // Listed once even when a deployment repeats one of the route's own.
    const repeated = await preflight({ CORS_ALLOW_HEADERS: 'range' }, path, LISTED, 'range');
    expect(repeated.headers.get('access-control-allow-headers')).toBe('Range,If-None-Match,If-Range');
  });

  it('keeps the defaults of before: any origin, and manifest preflights admit the headers they ask for', async () => {
    for (const path of ['/v1/models/cors', `/v1/blobs/${sha256}`]) {
      const res = await preflight({}, path, UNLISTED);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('vary') ?? '').not.toContain('Origin');
    }
    const manifest = await preflight({}, '/v1/models/cors', UNLISTED, 'x-anything');
    expect(preflightAllows(manifest, UNLISTED, 'X-Anything')).toBe(true);
    const read = await app.request(`${BASE}/v1/models/cors`, { headers: { Origin: UNLISTED } }, env);
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('echoes a listed origin with Vary: Origin and gives an unlisted one no Allow-Origin', async () => {
    const vars = { CORS_ALLOW_ORIGINS: `${LISTED}, https://staging.app.example:8443` };
    const reads = ['/v1/models', '/v1/models/cors', '/v1/models/cors/versions/1.0.0', `/v1/blobs/${sha256}`];
    for (const path of reads) {
      const listed = await app.request(`${BASE}${path}`, { headers: { Origin: LISTED } }, withVars(vars));
      await listed.arrayBuffer();
      expect(listed.status, path).toBe(200);
      expect(listed.headers.get('access-control-allow-origin'), path).toBe(LISTED);
      expect(listed.headers.get('vary'), path).toContain('Origin');

      const unlisted = await app.request(`${BASE}${path}`, { headers: { Origin: UNLISTED } }, withVars(vars));
      await unlisted.arrayBuffer();
      expect(unlisted.status, path).toBe(200);
      expect(unlisted.headers.get('access-control-allow-origin'), path).toBeNull();
      expect(unlisted.headers.get('vary'), path).toContain('Origin');

      expect(preflightAllows(await preflight(vars, path, LISTED), LISTED), path).toBe(true);
      expect(
        preflightAllows(
          await preflight(vars, path, 'https://staging.app.example:8443'),
          'https://staging.app.example:8443',
        ),
        path,
      ).toBe(true);
      const refused = await preflight(vars, path, UNLISTED);
      expect(refused.headers.get('access-control-allow-origin'), path).toBeNull();
      expect(refused.headers.get('vary'), path).toContain('Origin');
    }
  });

  it('still answers no CORS for writes, even to a listed origin with the header configured', async () => {
    const vars = { CORS_ALLOW_ORIGINS: LISTED, CORS_ALLOW_HEADERS: 'Authorization' };
    for (const [path, method] of [
      ['/v1/models/cors/versions', 'POST'],
      ['/v1/models/cors/aliases/stable', 'PUT'],
      [`/v1/blobs/${sha256}`, 'PUT'],
    ] as const) {
      const res = await app.request(
        `${BASE}${path}`,
        {
          method: 'OPTIONS',
          headers: {
            Origin: LISTED,
            'Access-Control-Request-Method': method,
            'Access-Control-Request-Headers': 'authorization',
          },
        },
        withVars(vars),
      );
      const cors = [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));
      expect(cors, `${method} ${path}`).toEqual([]);
    }
    const write = await app.request(
      `${BASE}/v1/models/cors/versions/1.0.0`,
      { method: 'DELETE', headers: { Origin: LISTED } },
      withVars(vars),
    );
    expect(write.status).toBe(401);
    expect(write.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('treats a malformed CORS var as a deployment error that names the var', async () => {
    for (const bad of [
      'app.example',
      'https://app.example/',
      'https://App.example',
      'https://app.example:443',
      '',
      'https://a.example,,https://b.example',
      'https://a.example/path',
    ]) {
      expect(() => corsConfig({ CORS_ALLOW_ORIGINS: bad }), bad).toThrow(/^CORS_ALLOW_ORIGINS must be/);
    }
    for (const bad of ['X App', 'X-A,', 'X-A;X-B', 'Ümlaut']) {
      expect(() => corsConfig({ CORS_ALLOW_HEADERS: bad }), bad).toThrow(/^CORS_ALLOW_HEADERS must be/);
    }
    expect(corsConfig({})).toEqual({ origins: '*', extraHeaders: [] });
    expect(corsConfig({ CORS_ALLOW_ORIGINS: ' * ', CORS_ALLOW_HEADERS: ' ' })).toEqual({
      origins: '*',
      extraHeaders: [],
    });
    expect(
      corsConfig({ CORS_ALLOW_ORIGINS: 'https://a.example, http://localhost:5173,capacitor://localhost' }),
    ).toEqual({
      origins: ['https://a.example', 'http://localhost:5173', 'capacitor://localhost'],
      extraHeaders: [],
    });

    // A request on a deployment so configured: a 500 in the API's shape, the var named in the log.
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
    const res = await app.request(
      `${BASE}/v1/models/cors`,
      { headers: { Origin: LISTED } },
      withVars({ CORS_ALLOW_ORIGINS: 'https://app.example/' }),
    );
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('internal');
    expect(logged.join('\n')).toContain('CORS_ALLOW_ORIGINS must be');
  });
});
