/**
 * Publishing while R2 or D1 fails or stalls mid-publish, inside workerd with the real app over real local
 * storage whose bindings are wrapped (test/faulty-env.ts) so that one chosen call throws or stalls. Both
 * publish flows, a fault at every step: the client gets a 5xx in the API's JSON error shape, no version
 * becomes visible (its manifest is a 404, the listing is unchanged), a plain retry on healthy storage
 * completes the publish, and every blob of the visible version hashes to its sha256.
 */

import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { reportFigure } from '../../../test/reliability.ts';
import { sha256Hex } from '../src/db/index.ts';
import { app } from '../src/index.ts';
import { type Fault, type FaultyEnv, faultyEnv } from './faulty-env.ts';
import { call, fakeVersion, publishForm, publishToken } from './helpers.ts';

type Version = Awaited<ReturnType<typeof fakeVersion>>;

const THREE_FILES = ['first graph', 'middle graph', 'last graph'];

/** Where a publish can fail, by step (the multipart flow stores blob by blob, then writes D1). */
const MULTIPART_STEPS: { step: string; fault: Omit<Fault, 'kind'> }[] = [
  { step: 'the version-exists check (D1)', fault: { on: 'd1', sql: /FROM versions WHERE/, nth: 1 } },
  ...['first', 'middle', 'last'].flatMap((which, i) => [
    { step: `the ${which} blob into R2`, fault: { on: 'r2.put', nth: i + 1 } as const },
    {
      step: `the ${which} blob's D1 row`,
      fault: { on: 'd1', sql: /INSERT INTO blobs/, nth: i + 1 } as const,
    },
  ]),
  { step: 'the version row (D1)', fault: { on: 'd1', sql: /INTO versions/, nth: 1 } },
  { step: 'the latest alias (D1)', fault: { on: 'd1', sql: /aliases/, nth: 1 } },
];

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.code).toBe('string');
  expect(typeof body.error.message).toBe('string');
  return body.error;
}

const authed = (token: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` },
});

const multipart = (token: string, v: Version) =>
  authed(token, { method: 'POST', body: publishForm(v.manifest, v.files) });

const listing = async () => JSON.stringify(await (await call('/v1/models')).json());

/** Problems with the version as served: a missing manifest, a missing blob or one that does not hash. */
async function problemsWith(name: string, v: Version): Promise<string[]> {
  const res = await call(`/v1/models/${name}/versions/${v.manifest.version}`);
  if (res.status !== 200) return [`manifest answered ${res.status}`];
  const served = (await res.json()) as { files: { path: string; sha256: string; bytes: number }[] };
  const problems: string[] = [];
  for (const file of served.files) {
    const blob = await call(`/v1/blobs/${file.sha256}`);
    if (blob.status !== 200) {
      problems.push(`${file.path}: blob answered ${blob.status}`);
      continue;
    }
    const bytes = new Uint8Array(await blob.arrayBuffer());
    if (bytes.length !== file.bytes || (await sha256Hex(bytes)) !== file.sha256)
      problems.push(`${file.path}: blob does not hash to its sha256`);
  }
  const latest = (await (await call(`/v1/models/${name}/versions/latest`)).json()) as { version?: string };
  if (latest.version !== v.manifest.version) problems.push(`latest is ${latest.version}`);
  return problems;
}

/** Checks a failed request and the state after it; returns what broke the properties. */
async function afterFault(
  res: Response,
  faulty: FaultyEnv,
  name: string,
  v: Version,
  before: string,
): Promise<string[]> {
  const problems: string[] = [];
  if (faulty.fired() !== 1) problems.push(`${faulty.fired()} faults fired, not 1`);
  const error = await errorOf(res);
  if (res.status !== 503 || error.code !== 'storage_unavailable')
    problems.push(`answered ${res.status} ${error.code}, not 503 storage_unavailable`);
  if (res.headers.get('retry-after') === null) problems.push('no Retry-After');
  const manifest = await call(`/v1/models/${name}/versions/${v.manifest.version}`);
  if (manifest.status !== 404) problems.push(`the manifest answered ${manifest.status} after the fault`);
  if ((await listing()) !== before) problems.push('the listing changed');
  return problems;
}

describe('publish while storage fails', () => {
  it('multipart: a fault at any step leaves nothing visible and a retry completes it', async ({ task }) => {
    const token = await publishToken();
    const failures: string[] = [];
    for (const [i, { step, fault }] of MULTIPART_STEPS.entries()) {
      const name = `fault-mp-${i}`;
      const v = await fakeVersion(name, '1.0.0', THREE_FILES);
      const before = await listing();
      const faulty = faultyEnv(env, [{ ...fault, kind: 'throw' }]);
      const res = await app.request(`/v1/models/${name}/versions`, multipart(token, v), faulty.env);
      const problems = await afterFault(res, faulty, name, v, before);
      const retry = await call(`/v1/models/${name}/versions`, multipart(token, v));
      if (retry.status !== 201) problems.push(`the retry answered ${retry.status}: ${await retry.text()}`);
      problems.push(...(await problemsWith(name, v)));
      failures.push(...problems.map((p) => `${step}: ${p}`));
    }
    reportFigure(task, {
      area: 'faults',
      what: 'multipart publish, R2/D1 failing at each step',
      count: MULTIPART_STEPS.length,
      unit: 'faults injected',
      failures: failures.length,
      note: 'each fault: 5xx JSON error, nothing visible, healthy retry publishes every blob intact',
    });
    expect(failures).toEqual([]);
  });

  it('blob by blob, then the manifest: a fault at any step leaves nothing visible and a retry completes it', async ({
    task,
  }) => {
    const token = await publishToken();
    // Steps 0–2 PUT a blob each, step 3 POSTs the JSON manifest (which HEADs every blob, then writes D1).
    const cases: { step: number; label: string; fault: Omit<Fault, 'kind'> }[] = [
      ...[0, 1, 2].flatMap((b) => [
        { step: b, label: `PUT of blob ${b + 1}/3 into R2`, fault: { on: 'r2.put', nth: 1 } as const },
        {
          step: b,
          label: `PUT of blob ${b + 1}/3, its D1 row`,
          fault: { on: 'd1', sql: /INSERT INTO blobs/, nth: 1 } as const,
        },
        {
          step: 3,
          label: `manifest POST, HEAD of blob ${b + 1}/3`,
          fault: { on: 'r2.head', nth: b + 1 } as const,
        },
      ]),
      { step: 3, label: 'manifest POST, the version row', fault: { on: 'd1', sql: /INTO versions/, nth: 1 } },
      { step: 3, label: 'manifest POST, the latest alias', fault: { on: 'd1', sql: /aliases/, nth: 1 } },
    ];
    const failures: string[] = [];
    for (const [i, { step, label, fault }] of cases.entries()) {
      const name = `fault-pw-${i}`;
      const v = await fakeVersion(name, '1.0.0', THREE_FILES);
      const before = await listing();
      const request = (s: number): [string, RequestInit] => {
        if (s === 3) {
          return [
            `/v1/models/${name}/versions`,
            authed(token, {
              method: 'POST',
              body: JSON.stringify(v.manifest),
              headers: { 'content-type': 'application/json' },
            }),
          ];
        }
        const file = v.manifest.files[s]!;
        return [`/v1/blobs/${file.sha256}`, authed(token, { method: 'PUT', body: v.files.get(file.path)! })];
      };
      const problems: string[] = [];
      for (let s = 0; s < 4; s++) {
        if (s === step) {
          const faulty = faultyEnv(env, [{ ...fault, kind: 'throw' }]);
          const res = await app.request(...request(s), faulty.env);
          problems.push(...(await afterFault(res, faulty, name, v, before)));
          if (s < 3 && fault.on === 'r2.put') {
            // Until the blob is uploaded again the manifest is refused with a 4xx, never published. (When
            // only its D1 row failed the blob is in R2, intact, and a manifest naming it may go through.)
            const early = await call(...request(3));
            if (early.status !== 422)
              problems.push(`the manifest without blob ${s + 1} answered ${early.status}`);
            else if ((await errorOf(early)).code !== 'missing_blob')
              problems.push('early manifest: not missing_blob');
          }
        }
        const res = await call(...request(s));
        if (res.status !== 201) problems.push(`step ${s} answered ${res.status}: ${await res.text()}`);
      }
      problems.push(...(await problemsWith(name, v)));
      failures.push(...problems.map((p) => `${label}: ${p}`));
    }
    reportFigure(task, {
      area: 'faults',
      what: 'blob-by-blob publish, R2/D1 failing at each step',
      count: cases.length,
      unit: 'faults injected',
      failures: failures.length,
      note: 'each fault: 5xx JSON error, nothing visible, the manifest refused (422) while a blob is missing, healthy retry completes',
    });
    expect(failures).toEqual([]);
  });
});

describe('publish while storage stalls', () => {
  it('a stalled R2 put or D1 write holds the publish invisible until it resumes, then it completes', async ({
    task,
  }) => {
    const token = await publishToken();
    const stalls: { label: string; fault: Fault }[] = [
      { label: 'the middle blob into R2', fault: { on: 'r2.put', nth: 2, kind: 'stall' } },
      { label: 'the version row (D1)', fault: { on: 'd1', sql: /INTO versions/, nth: 1, kind: 'stall' } },
    ];
    const failures: string[] = [];
    for (const [i, { label, fault }] of stalls.entries()) {
      const name = `fault-stall-${i}`;
      const v = await fakeVersion(name, '1.0.0', THREE_FILES);
      const before = await listing();
      const faulty = faultyEnv(env, [fault]);
      const pending = app.request(`/v1/models/${name}/versions`, multipart(token, v), faulty.env);
      await faulty.stalled();
      // Readers meanwhile see nothing of the half-stored version, and reads are not held up by the stall.
      const problems: string[] = [];
      if ((await call(`/v1/models/${name}/versions/1.0.0`)).status !== 404)
        problems.push('visible while stalled');
      if ((await listing()) !== before) problems.push('listing changed while stalled');
      faulty.release();
      const res = await pending;
      if (res.status !== 201) problems.push(`answered ${res.status} once resumed`);
      problems.push(...(await problemsWith(name, v)));
      failures.push(...problems.map((p) => `${label}: ${p}`));
    }
    reportFigure(task, {
      area: 'faults',
      what: 'publish with R2/D1 stalling mid-publish',
      count: stalls.length,
      unit: 'stalls injected',
      failures: failures.length,
      note: 'invisible while stalled, reads unaffected, 201 and intact once the storage resumes',
    });
    expect(failures).toEqual([]);
  });
});
