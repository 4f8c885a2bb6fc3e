/**
 * Path traversal and odd names (issue 10, abuse and access), inside workerd with real local D1 and R2:
 * every route that takes a model name, version or alias gets each hostile name in that slot and must
 * answer 400 `bad_name` (one validator, src/names.ts with core's patterns) and change nothing. A name
 * the URL parser itself resolves away (`..`, `%2e%2e`) never reaches a route as a
 * name — fetch and workerd resolve it first — so it is counted apart and not sent.
 * Both Workers' test projects run this file, each with the routes it serves (/v1 or /v2).
 */

import { VERSION_PATTERN } from '@ecg-tmp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import {
  BASE,
  call,
  fakeVersion,
  isInferencePath,
  publish,
  publishForm,
  publishToken,
  snapshot,
  WORKER,
} from './helpers.ts';

/** Hostile names as a client would put them in a path: raw ones (already percent-encoded) and text. */
const RAW = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '..%2f..%2fetc',
  '%2F',
  'a%2Fb',
  'a%5Cb',
  '%00',
  'a%00b',
  '%zz',
  '%',
];
const TEXT = [
  '../../etc/passwd',
  '..\\..\\windows',
  'a/b',
  'a\\b',
  'a\u0000b',
  '\u0000',
  '.hidden',
  '-dash',
  '_under',
  'UPPER',
  'cnn\u2010lstm', // U+2010 HYPHEN
  '\u0441nn-lstm', // Cyrillic с
  '\uff43\uff4e\uff4e', // fullwidth ｃｎｎ
  'cnn-lstm\u200b', // zero-width space
  'cafe\u0301', // combining accent
  'a'.repeat(65),
  'a'.repeat(4096),
  ' ',
  'a b',
  'a\tb',
  'a\r\nb',
  'a?b',
  'a#b',
  'a;b',
  '$(id)',
  "a'b",
  'a"b',
  '<script>',
  '1.0.0/../2.0.0',
  `1.0.0-${'a'.repeat(64)}`,
];
/** Fine as model names, hostile where a version (or an alias, which starts with a letter) is expected. */
const VERSION_LIKE = ['1.0.0-..', '1.0.0-', '01.0.0', '1.0', '1.0.0-a..b', '9.9.9.9'];
/** A well-formed infer request (the paper's 10-step input), so only the name can be what is wrong. */
const INFER_BODY = JSON.stringify({
  inputs: [{ name: 'ecg', shape: [1, 12, 10], datatype: 'FP32', data: Array(120).fill(0) }],
});
const SEGMENTS = [...RAW, ...TEXT.map(encodeURIComponent)];
const VERSION_SEGMENTS = [...SEGMENTS, ...VERSION_LIKE];

/** Whether a segment survives URL parsing, i.e. whether the request still reaches the route. */
function reachesRoute(template: string, segment: string): boolean {
  const path = template.replace('{}', segment);
  try {
    return new URL(`${BASE}${path}`).pathname === path;
  } catch {
    return false;
  }
}

describe('hostile model names, versions and aliases', () => {
  let token: string;
  beforeAll(async () => {
    token = await publishToken();
    const { manifest, files } = await fakeVersion('ok', '1.0.0');
    expect((await publish(token, 'ok', manifest, files)).status).toBe(201);
  });

  it('are refused with 400 bad_name on every route that takes one, and change nothing', {
    timeout: 180_000,
  }, async ({ task }) => {
    const auth = () => ({ Authorization: `Bearer ${token}` });
    const next = await fakeVersion('ok', '2.0.0');
    const allRoutes: { template: string; init: () => RequestInit }[] = [
      { template: '/v1/models/{}', init: () => ({}) },
      { template: '/v1/models/{}/versions/1.0.0', init: () => ({}) },
      { template: '/v1/models/ok/versions/{}', init: () => ({}) },
      {
        template: '/v1/models/{}/versions',
        init: () => ({ method: 'POST', headers: auth(), body: publishForm(next.manifest, next.files) }),
      },
      {
        template: '/v1/models/{}/aliases/stable',
        init: () => ({
          method: 'PUT',
          headers: { ...auth(), 'Content-Type': 'application/json' },
          body: '{"version":"1.0.0"}',
        }),
      },
      {
        template: '/v1/models/ok/aliases/{}',
        init: () => ({
          method: 'PUT',
          headers: { ...auth(), 'Content-Type': 'application/json' },
          body: '{"version":"1.0.0"}',
        }),
      },
      { template: '/v1/models/{}/versions/1.0.0', init: () => ({ method: 'DELETE', headers: auth() }) },
      { template: '/v1/models/ok/versions/{}', init: () => ({ method: 'DELETE', headers: auth() }) },
      { template: '/v2/models/{}', init: () => ({}) },
      { template: '/v2/models/{}/ready', init: () => ({}) },
      { template: '/v2/models/ok/versions/{}', init: () => ({}) },
      { template: '/v2/models/{}/versions/1.0.0/ready', init: () => ({}) },
      { template: '/v2/models/ok/versions/{}/ready', init: () => ({}) },
      {
        template: '/v2/models/{}/infer',
        init: () => ({
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: INFER_BODY,
        }),
      },
      {
        template: '/v2/models/ok/versions/{}/infer',
        init: () => ({
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: INFER_BODY,
        }),
      },
    ];
    const routes = allRoutes.filter((r) => isInferencePath(r.template) === (WORKER === 'inference'));
    expect(routes.length).toBeGreaterThanOrEqual(7);
    const before = await snapshot();
    let requests = 0;
    let validated = 0;
    let resolvedByUrl = 0;
    const failures: string[] = [];
    // Each route's requests in parallel (cheap: every one is refused before any storage is read).
    for (const { template, init } of routes) {
      const slot = template.includes('/versions/{}') || template.includes('/aliases/{}');
      const sent = (slot ? VERSION_SEGMENTS : SEGMENTS).filter((segment) => {
        // fetch and workerd resolve dot segments before routing: no route ever sees such a name.
        if (reachesRoute(template, segment)) return true;
        resolvedByUrl++;
        return false;
      });
      await Promise.all(
        sent.map(async (segment) => {
          const path = template.replace('{}', segment);
          const res = await call(path, init());
          requests++;
          validated++;
          const text = await res.text();
          let code: string | undefined;
          try {
            code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
          } catch {
            code = undefined;
          }
          if (res.status !== 400 || code !== 'bad_name')
            failures.push(`${init().method ?? 'GET'} ${path.slice(0, 120)}: ${res.status} ${code}`);
        }),
      );
    }
    // An empty segment matches no route: 404 no_route, in the same shape.
    for (const { template, init } of routes) {
      const res = await call(template.replace('{}', ''), init());
      requests++;
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      if (res.status !== 404 || body.error?.code !== 'no_route')
        failures.push(`empty name in ${template}: ${res.status} ${body.error?.code}`);
    }
    // The alias body names a version too: the same validator, the same code.
    for (const segment of WORKER === 'registry' ? [...TEXT, ...VERSION_LIKE] : []) {
      const res = await call('/v1/models/ok/aliases/stable', {
        method: 'PUT',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ version: segment }),
      });
      requests++;
      validated++;
      const body = (await res.json()) as { error?: { code?: string } };
      if (res.status !== 400 || body.error?.code !== 'bad_name')
        failures.push(`alias body version ${JSON.stringify(segment).slice(0, 60)}: ${res.status}`);
    }
    const after = await snapshot();
    reportFigure(task, {
      area: 'abuse and access',
      what: `hostile names, versions and aliases on every ${WORKER} route that takes one`,
      count: requests,
      unit: 'requests',
      failures: failures.length + (after === before ? 0 : 1),
      note: `${SEGMENTS.length} names (+${VERSION_LIKE.length} version-like in version/alias slots) × ${routes.length} routes + alias body; all ${validated} sent refused 400 bad_name by the validator; ${resolvedByUrl} more (dot segments) resolved away by URL parsing before routing, not sent; an empty name 404 on each route; D1 + R2 unchanged`,
    });
    expect(failures).toEqual([]);
    expect(after).toBe(before);
  });

  it.skipIf(WORKER !== 'registry')('keeps accepting the names and versions the registry uses', async () => {
    for (const v of ['0.1.0', '1.2.3', '1.0.0-rc.1', '10.20.30-alpha-2'])
      expect(VERSION_PATTERN.test(v)).toBe(true);
    for (const v of ['1.0.0-..', '1.0.0-', '1.0.0-a..b', `1.0.0-${'a'.repeat(60)}`, '1.0']) {
      expect(VERSION_PATTERN.test(v)).toBe(false);
    }
    const res = await call('/v1/models/ok/versions/1.0.0');
    expect(res.status).toBe(200);
    const alias = await call('/v1/models/ok/aliases/my-alias_2.x', {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: '{"version":"1.0.0"}',
    });
    expect(alias.status).toBe(200);
  });
});
