/**
 * Test helpers for the edge's two Workers inside workerd: requests through the Worker under test's own
 * fetch handler (SELF), a publish token, and manifests/files built from the shipped models/ folder or
 * made up. Each Worker has its own test project (vitest.config.ts), which names it in EDGE_WORKER.
 */

import { env, SELF } from 'cloudflare:test';
import { insertToken } from '../src/db/index.ts';
import { app as registry } from '../src/index.ts';

export const BASE = 'https://edge.test';

/** The Worker this test project runs: 'registry' (wrangler.toml) or 'inference'. */
export const WORKER = env.EDGE_WORKER;

/** Whether a path is the inference Worker's (/v2) rather than the registry's. */
export const isInferencePath = (path: string) => path === '/v2' || path.startsWith('/v2/');

/**
 * A request to the edge. In the inference project, registry paths (publishing the models the tests
 * infer with) go to the registry's real app in this isolate, on the same local D1 and R2.
 */
export function call(path: string, init?: RequestInit): Promise<Response> {
  if (WORKER === 'inference' && !isInferencePath(path))
    return Promise.resolve(registry.request(`${BASE}${path}`, init, env));
  return SELF.fetch(`${BASE}${path}`, init);
}

/** A fresh publish token (its hash stored in D1, as the token command does). */
export async function publishToken(scopes: 'publish'[] = ['publish']): Promise<string> {
  const token = `test-${crypto.randomUUID()}`;
  await insertToken(env.DB, token, scopes, 'test', new Date().toISOString());
  return token;
}

export { fakeVersion } from './fake-version.ts';

export function publishForm(manifest: unknown, files: Map<string, Uint8Array>): FormData {
  const form = new FormData();
  form.set('manifest', JSON.stringify(manifest));
  for (const [path, bytes] of files) form.set(path, new Blob([bytes]), path);
  return form;
}

export async function publish(
  token: string,
  name: string,
  manifest: unknown,
  files: Map<string, Uint8Array>,
) {
  return call(`/v1/models/${name}/versions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
    body: publishForm(manifest, files),
  });
}

/** Every D1 table (those added by later migrations too) and every R2 object, as one comparable string. */
export async function snapshot(): Promise<string> {
  const { results: tables } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  const state: Record<string, string[]> = {};
  for (const { name } of tables) {
    const { results } = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
    state[name] = results.map((r) => JSON.stringify(r)).sort();
  }
  const objects: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BLOBS.list(cursor === undefined ? {} : { cursor });
    for (const o of page.objects) objects.push(`${o.key} ${o.size} ${o.etag}`);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  state['r2 objects'] = objects.sort();
  return JSON.stringify(state);
}
