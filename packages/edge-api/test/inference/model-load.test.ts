/**
 * @module
 * The edge loading stored graphs that ORT cannot use, inside workerd with real local D1/R2: damaged
 * copies of the CNN-LSTM graph (cuts and seeded bit flips) published with their own digests, so they pass
 * every hash check and reach onnxruntime-web. Readiness and infer must answer 200 (a flip in a weight
 * value is still a model) or 503 `model_unavailable` in the one JSON error shape, never a 500 or a
 * hang, and the isolate's runtime must still serve the real graph afterwards.
 */

import { describe, expect, it } from 'vitest';
import cnnLstmManifest from '../../../../models/cnn-lstm/0.1.0/manifest.json' with { type: 'json' };
import cnnLstmGraph from '../../../../models/cnn-lstm/0.1.0/model.onnx?url&inline';
import { reportFigure } from '../../../../test/reliability.ts';
import { sha256Hex } from '../../src/db/index.ts';
import { call, publish, publishToken } from '../helpers.ts';
import { inferJson } from './fixtures.ts';

/** A seeded xorshift, so the damage is the same on every run. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function damaged(original: Uint8Array, count: number): [string, Uint8Array][] {
  const next = random(10_040);
  const out: [string, Uint8Array][] = [
    ['first half', original.slice(0, original.length >> 1)],
    ['all but the last byte', original.slice(0, original.length - 1)],
    ['a junk prefix', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, ...original.subarray(0, 4096)])],
  ];
  while (out.length < count) {
    const b = original.slice();
    const flips = 1 + Math.floor(next() * 3);
    for (let k = 0; k < flips; k++) {
      // Half the flips in the first 4 kB (graph structure, names, shapes), half anywhere.
      const at = Math.floor(next() * (k % 2 === 0 ? 4096 : b.length));
      b[at] = b[at]! ^ (1 << Math.floor(next() * 8));
    }
    out.push([`flips ${out.length}`, b]);
  }
  return out;
}

const request = {
  inputs: [{ name: 'ecg', shape: [1, 12, 500], datatype: 'FP32', data: new Array(6000).fill(0.1) }],
};

describe('stored graphs that onnxruntime cannot load', () => {
  it('answer 503 model_unavailable (or 200), never 5xx otherwise, for 24 damaged graphs', async ({
    task,
  }) => {
    const original = new Uint8Array(await (await fetch(cnnLstmGraph)).arrayBuffer());
    const token = await publishToken();
    const variants = damaged(original, 24);
    const counts = { ready: 0, unavailable: 0 };
    const failures: string[] = [];
    for (const [i, [what, graph]] of variants.entries()) {
      const version = `1.0.${i}`;
      const manifest = {
        ...cnnLstmManifest,
        name: 'damaged',
        version,
        files: [
          {
            path: 'model.onnx',
            role: 'model',
            dtype: 'fp32',
            sha256: await sha256Hex(graph),
            bytes: graph.length,
          },
        ],
      };
      const published = await publish(token, 'damaged', manifest, new Map([['model.onnx', graph]]));
      if (published.status !== 201) {
        failures.push(`${what}: publish answered ${published.status}`);
        continue;
      }
      for (const res of [
        await call(`/v2/models/damaged/versions/${version}/ready`),
        await inferJson(`/v2/models/damaged/versions/${version}/infer`, request),
      ]) {
        if (res.status === 200) {
          counts.ready++;
          await res.body?.cancel();
          continue;
        }
        const body = (await res.json().catch(() => undefined)) as
          | { error?: { code?: string; message?: string } }
          | undefined;
        if (res.status !== 503 || body?.error?.code !== 'model_unavailable') {
          failures.push(`${what}: ${res.status} ${JSON.stringify(body)}`);
        } else if (!/model\.onnx is not a usable ONNX graph/.test(body.error.message ?? '')) {
          failures.push(`${what}: message '${body.error.message}'`);
        } else counts.unavailable++;
      }
    }
    reportFigure(task, {
      area: 'bad input',
      what: 'edge (workerd, ORT wasm): damaged graphs stored with matching digests, ready + infer',
      count: variants.length * 2,
      unit: 'requests',
      failures: failures.length,
      note: `${counts.unavailable} answered 503 model_unavailable, ${counts.ready} answered 200`,
    });
    expect(failures.slice(0, 5)).toEqual([]);
    expect(counts.unavailable).toBeGreaterThanOrEqual(6);
    // The isolate's runtime still loads and runs the real graph.
    const manifest = { ...cnnLstmManifest, name: 'intact', version: '1.0.0' };
    manifest.files = manifest.files.filter((f) => f.dtype === 'fp32');
    expect((await publish(token, 'intact', manifest, new Map([['model.onnx', original]]))).status).toBe(201);
    const ok = await inferJson('/v2/models/intact/infer', request);
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
  }, 240_000);
});
