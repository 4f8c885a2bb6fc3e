import { N_LEADS, N_SITES, N_STEPS, type Signal } from '@ecg-tmp/core';
import { describe, expect, it } from 'vitest';
import { meanBaseline, nearestBaseline } from './baselines.ts';
import type { CacheSplit } from './data.ts';
import { evaluate, modelInput } from './evaluate.ts';

const norm = { ecg: 'lead-range', tmp: 'vm-affine' } as const;

/** Sample i: an ECG deflection at 30 + 7i ms and sites that depolarise 7i ms late. */
function toySplit(count: number): CacheSplit {
  const ecg = new Float32Array(count * N_LEADS * N_STEPS);
  const vm = new Float32Array(count * N_SITES * N_STEPS).fill(-85.5);
  for (let i = 0; i < count; i++) {
    for (let lead = 0; lead < N_LEADS; lead++) {
      const base = (i * N_LEADS + lead) * N_STEPS;
      ecg[base] = 0.05 * (lead + 1); // the first 10 ms look alike in every sample
      for (let t = 0; t < 20; t++)
        ecg[base + 30 + 7 * i + t] = Math.sin((t / 20) * Math.PI) * (1 + lead / 10);
    }
    for (let site = 0; site < N_SITES; site++) {
      const base = (i * N_SITES + site) * N_STEPS;
      vm.fill(30, base + 30 + 7 * i + site, base + 300 + site);
    }
  }
  return {
    count,
    ecg,
    vm,
    ids: Array.from({ length: count }, (_, i) => `s${i}`),
    folders: Array(count).fill('f'),
  };
}

describe('evaluate with the baselines', () => {
  const split = toySplit(12);

  it('scores a perfect lookup as perfect in Exp I and shows it collapse in Exp II', async () => {
    const { full, limited } = await evaluate(nearestBaseline(split, norm), split, {
      normalisation: norm,
      batchSize: 5,
    });
    expect(full!.count).toBe(12 * N_SITES * N_STEPS);
    expect(full!.mae).toBe(0);
    expect(full!.r2).toBe(1);
    expect(full!.spearman).toBeCloseTo(1, 10);
    // The lookup returns each sample's own TMP: it varies across ECGs exactly as the truth does.
    expect(full!.spread.ratio).toBeCloseTo(1, 10);
    expect(limited!.mae).toBeGreaterThan(0.01);
    expect(limited!.r2).toBeLessThan(full!.r2 - 0.05);
  });

  it('ranks the mean template below the lookup', async () => {
    const mean = await evaluate(meanBaseline(split, norm), split, {
      normalisation: norm,
      experiments: ['full'],
    });
    const nearest = await evaluate(nearestBaseline(split, norm), split, {
      normalisation: norm,
      experiments: ['full'],
    });
    expect(mean.limited).toBeUndefined();
    expect(mean.full!.r2).toBeLessThan(nearest.full!.r2);
    expect(mean.full!.mae).toBeGreaterThan(0);
    // One template whatever the ECG: no spread, whatever its R².
    expect(mean.full!.spread.ratio).toBeLessThan(1e-6);
    expect(mean.full!.spread.truth).toBeGreaterThan(0);
  });

  it('feeds Exp II only the first 10 ms', () => {
    const ecg: Signal = { data: split.ecg.subarray(0, N_LEADS * N_STEPS), shape: [1, N_LEADS, N_STEPS] };
    const x = modelInput(ecg, 'limited', norm.ecg);
    expect(x.data.subarray(10, N_STEPS).every((v) => v === 0)).toBe(true);
    expect(x.data[0]).toBe(1); // 0.05 / (0.05 − 0): the range is taken over the kept steps only
  });

  it('decodes a model that reads only the first 10 ms once a batch for both experiments', async () => {
    const calls = (architecture: 'transformer' | 'cnn-lstm') => {
      const inputs: Signal[] = [];
      const predict = nearestBaseline(split, norm);
      return {
        inputs,
        predict: (e: Signal) => {
          inputs.push(e);
          return predict(e);
        },
        architecture,
      };
    };
    const transformer = calls('transformer');
    const observed: [string, number, number, Signal][] = [];
    const t = await evaluate(transformer.predict, split, {
      normalisation: norm,
      batchSize: 5,
      architecture: 'transformer',
      observe: (exp, from, truth, prediction) => observed.push([exp, from, truth.shape[0], prediction]),
    });
    // Every batch of every experiment is shown to `observe`, the shared prediction as one object.
    expect(observed.map(([exp, from, n]) => [exp, from, n])).toEqual([
      ['full', 0, 5],
      ['limited', 0, 5],
      ['full', 5, 5],
      ['limited', 5, 5],
      ['full', 10, 2],
      ['limited', 10, 2],
    ]);
    for (let i = 0; i < observed.length; i += 2) expect(observed[i]![3]).toBe(observed[i + 1]![3]);
    // 12 samples in batches of 5: three calls, each one Exp II's input.
    expect(transformer.inputs).toHaveLength(3);
    expect(transformer.inputs[0]!.data.subarray(10, N_STEPS).every((v) => v === 0)).toBe(true);
    expect(t.full).toEqual(t.limited);
    // The same figures as decoding each experiment on its own.
    const alone = await evaluate(nearestBaseline(split, norm), split, {
      normalisation: norm,
      batchSize: 5,
      architecture: 'transformer',
      experiments: ['full'],
    });
    expect(alone.full).toEqual(t.full);
    // Any other model: one call per experiment and batch, two different inputs.
    const cnn = calls('cnn-lstm');
    const c = await evaluate(cnn.predict, split, {
      normalisation: norm,
      batchSize: 5,
      architecture: 'cnn-lstm',
    });
    expect(cnn.inputs).toHaveLength(6);
    expect(c.full!.r2).not.toBe(c.limited!.r2);
  });

  it('rejects a predictor that returns the wrong shape', async () => {
    const bad = (e: Signal): Signal => ({
      data: new Float32Array(e.shape[0] * 10),
      shape: [e.shape[0], 10, 1],
    });
    await expect(evaluate(bad, split, { normalisation: norm })).rejects.toThrow(
      /predictor returned \[\d+, 10, 1\]/,
    );
  });
});
