/**
 * The SDK on a self-hosted copy of models/ (no edge), in Node with ORT wasm: every default model, the
 * Transformer streamed segment by segment, compared with the trainer-checked ONNX reference.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { denormaliseVm, limitTime, N_SITES, N_STEPS, normaliseEcg, type Signal } from '@ecg-tmp/core';
import { describe, expect, it } from 'vitest';
import aliases from '../../../models/aliases.json' with { type: 'json' };
import { openModel } from '../../trainer/src/export/verify.ts';
import {
  activationTimes,
  createReconstructor,
  InputShapeError,
  ModelNotFoundError,
  memoryStore,
  repolarisationTimes,
} from '../src/index.ts';

const ROOT = join(import.meta.dirname, '../../..');

/** Serves the repository's models/ folder as https://models.test/. */
const folderFetch: typeof fetch = async (input) => {
  const path = new URL(String(input instanceof Request ? input.url : input)).pathname;
  try {
    return new Response(new Uint8Array(await readFile(join(ROOT, 'models', decodeURIComponent(path)))));
  } catch {
    return new Response('not found', { status: 404 });
  }
};

const ecg = new Float32Array(12 * 500).map((_, i) => Math.sin(i * 0.023) * 0.5 + Math.sin(i * 0.0013) * 0.3);

const STABLE: Record<string, string> = Object.fromEntries(
  Object.entries(aliases).map(([name, a]) => [name, a.stable]),
);

async function reference(model: string, version: string, limited: boolean): Promise<Float32Array> {
  const { model: ort } = await openModel(join(ROOT, 'models', model, version), 'fp32');
  const raw: Signal = { data: ecg, shape: [1, 12, 500] };
  // The Transformer reads the first 10 ms as it was trained on them, scaled by their own range, in both
  // experiments; the CNNs read the whole window unless limited.
  const firstOnly = limited || model === 'transformer';
  const out = await ort.predict(normaliseEcg(firstOnly ? limitTime(raw) : raw, 'lead-range').signal);
  await ort.release();
  return denormaliseVm(out, 'vm-affine').data;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('a self-hosted models/ folder', () => {
  // The Transformer also at 0.1.0, whose decoder-step graph predates the added cache rows: the SDK
  // passes the grown cache from step to step there, and grows it itself from 0.1.1 on. 0.1.1 holds the
  // same weights in the newer graphs, so it is 0.1.0's reference.
  const cases = [
    ...['cnn', 'cnn-lstm', 'transformer'].map((model) => ({ model, version: undefined, against: undefined })),
    { model: 'transformer', version: '0.1.0', against: '0.1.1' },
  ];
  for (const { model, version, against } of cases) {
    const title =
      version === undefined ? `${model}: stable resolves through aliases.json` : `${model} ${version}`;
    it(`${title} and matches the reference in Exp I and II`, async () => {
      const r = await createReconstructor({
        model,
        ...(version === undefined ? {} : { version }),
        modelsUrl: 'https://models.test',
        fetch: folderFetch,
        device: 'wasm',
        cache: memoryStore(),
      });
      expect(r.version).toBe(version ?? STABLE[model]);
      for (const limited of [false, true]) {
        const { tmp } = await r.reconstruct(ecg, { limitedTime: limited });
        expect(maxDiff(tmp, await reference(model, against ?? STABLE[model]!, limited))).toBeLessThan(1e-4);
      }
      await r.dispose();
    });
  }

  it('streams the Transformer in 50 segments of 10 steps that add up to the full reconstruction', async () => {
    const r = await createReconstructor({
      model: 'transformer',
      modelsUrl: 'https://models.test',
      fetch: folderFetch,
      device: 'wasm',
      cache: memoryStore(),
    });
    const full = (await r.reconstruct(ecg)).tmp;
    const assembled = new Float32Array(N_SITES * N_STEPS);
    const ranges: [number, number][] = [];
    for await (const s of r.stream(ecg)) {
      ranges.push([s.from, s.to]);
      for (let site = 0; site < N_SITES; site++) {
        assembled.set(s.tmp.subarray(site * 10, site * 10 + 10), site * N_STEPS + s.from);
      }
    }
    expect(ranges).toEqual(Array.from({ length: 50 }, (_, i) => [10 * i, 10 * i + 10]));
    expect(assembled).toEqual(full);
    const at = activationTimes(full);
    expect(at).toHaveLength(N_SITES);
    const rt = repolarisationTimes(full);
    expect(rt).toHaveLength(N_SITES);
    // Whatever the model draws, a site repolarises only after it activates.
    for (const [site, t] of rt.entries()) if (t >= 0) expect(t).toBeGreaterThan(at[site]!);
    await r.dispose();
  });

  it('fp16 weights download half the bytes and stay close to fp32', async () => {
    const sizes: number[] = [];
    const outs: Float32Array[] = [];
    for (const dtype of ['fp32', 'fp16'] as const) {
      let bytes = 0;
      const r = await createReconstructor({
        model: 'cnn-lstm',
        modelsUrl: 'https://models.test',
        fetch: folderFetch,
        device: 'wasm',
        dtype,
        cache: memoryStore(),
        onProgress: (e) => {
          if (e.status === 'download') bytes = e.loadedAll;
        },
      });
      sizes.push(bytes);
      outs.push((await r.reconstruct(ecg)).tmp);
      await r.dispose();
    }
    expect(sizes[1]! / sizes[0]!).toBeLessThan(0.55);
    // fp16 weights: within 1e-2 on the normalised scale (135.5 mV span).
    expect(maxDiff(outs[0]!, outs[1]!)).toBeLessThan(1e-2 * 135.5);
  });

  it('an alias the folder does not name is a ModelNotFoundError', async () => {
    await expect(
      createReconstructor({
        model: 'cnn',
        version: 'beta',
        modelsUrl: 'https://models.test',
        fetch: folderFetch,
        device: 'wasm',
        cache: memoryStore(),
      }),
    ).rejects.toBeInstanceOf(ModelNotFoundError);
  });
});

describe('activationTimes and repolarisationTimes', () => {
  /** [2 × 75 × 500]: site s of sample b rises to +30 mV at 10 + s and falls to −85 mV at 200 + s + 100 b. */
  function aps(): Float32Array {
    const tmp = new Float32Array(2 * N_SITES * N_STEPS).fill(-85);
    for (let b = 0; b < 2; b++)
      for (let s = 0; s < N_SITES; s++)
        tmp.fill(30, (b * N_SITES + s) * N_STEPS + 10 + s, (b * N_SITES + s) * N_STEPS + 200 + s + 100 * b);
    return tmp;
  }

  it('time each site of each sample, at[b * 75 + site]', () => {
    const tmp = aps();
    const expected = (f: (b: number, s: number) => number) =>
      Array.from({ length: 2 * N_SITES }, (_, i) => f(Math.floor(i / N_SITES), i % N_SITES));
    expect(Array.from(activationTimes(tmp))).toEqual(expected((_, s) => 10 + s));
    expect(Array.from(repolarisationTimes(tmp))).toEqual(expected((b, s) => 200 + s + 100 * b));
    // −1 where a site has not come back below the level by 500 ms, or never activates.
    tmp.fill(30, 74 * N_STEPS, 75 * N_STEPS);
    tmp.fill(-85, N_STEPS, 2 * N_STEPS);
    const rt = repolarisationTimes(tmp);
    expect([rt[0], rt[1], rt[74]]).toEqual([200, -1, -1]);
    expect(activationTimes(tmp)[1]).toBe(-1);
  });

  it('take another level', () => {
    const tmp = aps();
    // Site 0 falls from +30 to −85 mV in 10 steps: 18.5, 7, −4.5, −16, −27.5 (step 204), −39, −50.5, −62
    // (step 207), …
    for (let k = 0; k < 10; k++) tmp[200 + k] = 30 - 11.5 * (k + 1);
    expect(repolarisationTimes(tmp)[0]).toBe(207);
    expect(repolarisationTimes(tmp, -30)[0]).toBe(205);
    expect(repolarisationTimes(tmp, -20)[0]).toBe(204);
  });

  it('reject anything but whole samples of 75 × 500', () => {
    for (const f of [activationTimes, repolarisationTimes]) {
      for (const n of [0, N_SITES * N_STEPS - 1, 1.5 * N_SITES * N_STEPS]) {
        expect(() => f(new Float32Array(n))).toThrow(InputShapeError);
      }
      expect(() => f(new Float32Array(10))).toThrow(/tmp must hold 75×500 values per sample; got 10/);
    }
  });
});
