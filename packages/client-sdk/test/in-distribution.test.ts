/**
 * Issue 19 §4 in the SDK, in Node on WASM: every reconstruction carries @ecg-tmp/core's in-distribution
 * check of its input (mV) against the loaded manifest's statistics. Scored with a copy of the cnn-lstm
 * stable whose manifest has statistics fitted on simulated windows (fitted-model.ts): a fresh simulated
 * window in range, the same window ×1000 out of range, per ECG of a batch, per beat of a recording. The
 * shipped models as they are: 'not-checked' while their manifests carry no statistics, never in range.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkInDistribution, parseWfdb } from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BeatReconstruction,
  createReconstructor,
  type InDistribution,
  memoryStore,
  type Reconstructor,
  reconstructRecording,
} from '../src/index.ts';
import { type FittedModels, fittedModels, folderFetch } from './fitted-model.ts';

const ROOT = join(import.meta.dirname, '../../..');
const REAL = join(ROOT, 'packages/simulator/assets/real-ecg');
const SCORED = new Set<InDistribution['status']>(['in-range', 'unusual', 'out-of-range', 'not-measurable']);

let fitted: FittedModels;
let scored: Reconstructor;
let shipped: Reconstructor;

const open = (dir: string) =>
  createReconstructor({
    model: 'cnn-lstm',
    modelsUrl: 'https://models.test',
    fetch: folderFetch(dir),
    device: 'wasm',
    cache: memoryStore(),
  });

beforeAll(async () => {
  fitted = await fittedModels('cnn-lstm');
  scored = await open(fitted.dir);
  shipped = await open(join(ROOT, 'models'));
}, 120_000);
afterAll(async () => {
  await scored?.dispose();
  await shipped?.dispose();
  await fitted?.remove();
});

describe('the in-distribution check on every reconstruction', () => {
  it('names the output rows from the manifest, or says it cannot', async () => {
    const withSites = shipped.manifest.siteList;
    if (withSites === undefined) expect(shipped.sites).toBeNull();
    else expect(shipped.sites).toEqual(withSites);
    const names = scored.sites?.map((s) => s.name) ?? null;
    if (names !== null) {
      expect(names).toHaveLength(75);
      expect(names[0]).toBe('AHA01');
    }
  });

  it('scores a simulated window in range and the same window ×1000 (µV read as mV) out of range, per ECG of a batch', async () => {
    expect(scored.manifest.inDistribution).toBeDefined();
    const window = fitted.fresh(0);
    const batch = new Float32Array(2 * window.length);
    batch.set(window, 0);
    batch.set(
      window.map((v) => v * 1000),
      window.length,
    );
    const result = await scored.reconstruct(batch);
    expect(result.inDistribution).toHaveLength(2);
    const [ok, far] = result.inDistribution;
    console.log(
      `fitted cnn-lstm ${fitted.version}: simulated window distance ${ok!.distance?.toFixed(2)} (in range ≤ ${fitted.stats.unusual.toFixed(2)}), ×1000 ${far!.distance?.toFixed(1)} (out of range > ${fitted.stats.threshold.toFixed(2)})`,
    );
    expect(ok!.status).toBe('in-range');
    expect(ok!.distance).toBeLessThanOrEqual(fitted.stats.unusual);
    expect(far!.status).toBe('out-of-range');
    expect(far!.distance).toBeGreaterThan(fitted.stats.threshold);
    expect(far!.farthest[0]!.label).toMatch(/amplitude/);
    expect(far!.message).toMatch(/Do not rely on this reconstruction/);
    // The same numbers as core's function on the same window and statistics: one method everywhere.
    expect(result.inDistribution).toEqual([
      checkInDistribution(window, fitted.stats),
      checkInDistribution(
        window.map((v) => v * 1000),
        fitted.stats,
      ),
    ]);
    expect(scored.checkInDistribution(batch)).toEqual(result.inDistribution);
  });

  it('scores nested arrays and Exp II (limited time) on the whole input window', async () => {
    const window = fitted.fresh(1);
    const nested = Array.from({ length: 12 }, (_, l) => Array.from(window.subarray(l * 500, (l + 1) * 500)));
    const [check] = (await scored.reconstruct(nested, { limitedTime: true })).inDistribution;
    expect(check!.status).toBe('in-range');
    expect(check).toEqual(checkInDistribution(window, fitted.stats));
  });

  it("gives every beat of a recording its own check (s0010_re, 13 beats, scored, not 'not-checked')", async () => {
    const recording = parseWfdb(
      new Uint8Array(await readFile(join(REAL, 's0010_re.hea'))),
      { 's0010_re.dat': new Uint8Array(await readFile(join(REAL, 's0010_re.dat'))) },
      's0010_re.hea',
    );
    const beats: BeatReconstruction[] = [];
    for await (const e of reconstructRecording(recording, { reconstructor: scored }))
      if (e.status === 'beat') beats.push(e);
    expect(beats).toHaveLength(13);
    const statuses = beats.map((b) => b.inDistribution.status);
    console.log(`s0010_re against the fitted statistics: ${statuses.join(', ')}`);
    for (const b of beats) {
      expect(SCORED.has(b.inDistribution.status)).toBe(true);
      expect(b.inDistribution).toEqual(checkInDistribution(b.ecg, fitted.stats));
    }
  }, 120_000);

  it("says 'not-checked', never in range, for a manifest without statistics (the shipped models until their re-export)", async () => {
    const window = fitted.fresh(0);
    const [check] = (await shipped.reconstruct(window)).inDistribution;
    if (shipped.manifest.inDistribution === undefined) {
      expect(check!.status).toBe('not-checked');
      expect(check!.distance).toBeNull();
      expect(check!.message).toMatch(/^Not checked/);
    } else {
      // After the re-export: the shipped statistics score it, with core's numbers.
      expect(SCORED.has(check!.status)).toBe(true);
      expect(check).toEqual(checkInDistribution(window, shipped.manifest.inDistribution));
    }
  });

  it("says 'not-checked', with why, for statistics over other features than this SDK measures", async () => {
    const manifestPath = join(fitted.dir, 'cnn-lstm', fitted.version, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const stats = fitted.stats;
    const k = stats.features.length;
    await writeFile(
      manifestPath,
      JSON.stringify({
        ...manifest,
        inDistribution: {
          ...stats,
          features: [...stats.features.slice(0, k - 1), 'someFutureFeature'],
        },
      }),
    );
    const other = await open(fitted.dir);
    try {
      const [check] = (await other.reconstruct(fitted.fresh(0))).inDistribution;
      expect(check!.status).toBe('not-checked');
      expect(check!.message).toMatch(/other ECG features than this SDK measures/);
    } finally {
      await other.dispose();
      await writeFile(manifestPath, JSON.stringify(manifest));
    }
  });
});
