/**
 * The storage deadline on the inference Worker (src/deadline.ts) inside workerd, real local D1 and R2
 * wrapped so that one chosen call stalls (test/faulty-env.ts): the manifest lookup (D1), the rate
 * limiter's counter (D1) and the graph read of a model load (R2) each answer 503 `storage_timeout`
 * with Retry-After within the deadline, and a load cut short that way is not cached: the next request
 * on healthy storage loads the model and infers.
 */

import { env } from 'cloudflare:test';
import { N_LEADS, N_STEPS } from '@ecg-tmp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { reportFigure } from '../../../../test/reliability.ts';
import { app } from '../../src/inference/index.ts';
import { type Fault, faultyEnv } from '../faulty-env.ts';
import { BASE } from '../helpers.ts';
import { JSON_HEADERS, publishDefaults } from './fixtures.ts';

const DEADLINE_MS = 200;
const SLACK_MS = 3_000;

const inferBody = JSON.stringify({
  inputs: [
    {
      name: 'ecg',
      shape: [1, N_LEADS, N_STEPS],
      datatype: 'FP32',
      data: new Array(N_LEADS * N_STEPS).fill(0),
    },
  ],
});
const infer = (model: string): [string, RequestInit] => [
  `${BASE}/v2/models/${model}/infer`,
  { method: 'POST', headers: JSON_HEADERS, body: inferBody },
];

beforeAll(publishDefaults);

describe('a stalled D1 or R2 call on the inference Worker', () => {
  it('answers 503 storage_timeout with Retry-After within the deadline, and the next request recovers', async ({
    task,
  }) => {
    // The R2 stall comes first: the model must not be loaded (cached) in this isolate yet.
    const stalls: { label: string; fault: Fault; request: [string, RequestInit]; env?: Partial<Env> }[] = [
      {
        label: 'R2 get: a graph while loading the model',
        fault: { on: 'r2.get', nth: 1, kind: 'stall' },
        request: infer('cnn'),
      },
      {
        label: 'D1 read: the manifest of an infer',
        fault: { on: 'd1', sql: /FROM versions/, nth: 1, kind: 'stall' },
        request: infer('cnn'),
      },
      {
        label: 'D1 read: model metadata',
        fault: { on: 'd1', nth: 1, kind: 'stall' },
        request: [`${BASE}/v2/models/cnn`, {}],
      },
      {
        label: 'D1 write: the rate limit counter',
        fault: { on: 'd1', sql: /rate_limits/, nth: 1, kind: 'stall' },
        request: infer('cnn'),
        env: { INFER_RATE_LIMIT: '100' },
      },
    ];
    const failures: string[] = [];
    for (const { label, fault, request, env: extra } of stalls) {
      const faulty = faultyEnv(env, [fault]);
      const started = Date.now();
      const res = await app.request(request[0], request[1], {
        ...faulty.env,
        ...extra,
        STORAGE_TIMEOUT_MS: String(DEADLINE_MS),
      });
      const elapsed = Date.now() - started;
      const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
      if (res.status !== 503) failures.push(`${label}: status ${res.status}`);
      if (body?.error?.code !== 'storage_timeout') failures.push(`${label}: code ${body?.error?.code}`);
      if (res.headers.get('retry-after') !== '1') failures.push(`${label}: no Retry-After`);
      if (elapsed > DEADLINE_MS + SLACK_MS || elapsed < DEADLINE_MS - 5)
        failures.push(`${label}: answered after ${elapsed} ms`);
      if (faulty.fired() !== 1) failures.push(`${label}: ${faulty.fired()} faults fired`);
      faulty.release();
      // The same request on healthy storage: the cut-short load was not kept, so this one loads.
      const again = await app.request(request[0], { ...request[1] }, env);
      if (again.status !== 200) failures.push(`${label}: the retry answered ${again.status}`);
      await again.arrayBuffer();
    }
    reportFigure(task, {
      area: 'faults',
      what: 'a stalled D1/R2 call on the inference Worker (deadline 200 ms)',
      count: stalls.length,
      unit: 'stalls injected',
      failures: failures.length,
      note: 'manifest lookup, rate-limit counter, graph read of a model load: 503 storage_timeout with Retry-After, no hang; the retry infers',
    });
    expect(failures).toEqual([]);
  });
});
