import { describe, expect, it } from 'vitest';
import { signal } from './layout.ts';
import {
  denormaliseVm,
  LIMITED_TIME_STEPS,
  limitTime,
  normaliseEcg,
  normaliseVm,
  normaliseVmValue,
  prepareEcg,
  readsFirstStepsOnly,
} from './normalise.ts';

describe('ECG lead-range normalisation', () => {
  it('divides each lead of each sample by its own range, without shifting', () => {
    const ecg = signal(new Float32Array([1, -1, 3, 0, 2, 4, 10, 10, 10]), [1, 3, 3]);
    const { signal: out, scale } = normaliseEcg(ecg, 'lead-range');
    expect(Array.from(scale)).toEqual([4, 4, 1]);
    expect(Array.from(out.data)).toEqual([0.25, -0.25, 0.75, 0, 0.5, 1, 10, 10, 10]);
    expect(out.shape).toEqual([1, 3, 3]);
  });

  it('scales samples independently', () => {
    const ecg = signal(new Float32Array([0, 2, 0, 8]), [2, 1, 2]);
    expect(Array.from(normaliseEcg(ecg, 'lead-range').signal.data)).toEqual([0, 1, 0, 1]);
  });

  it('rejects NaN naming the position, and unknown methods listing valid ones', () => {
    const ecg = signal(new Float32Array([0, Number.NaN, 1, 2]), [1, 2, 2]);
    expect(() => normaliseEcg(ecg, 'lead-range')).toThrow(/ecg: non-finite value NaN at \[0, 0, 1\]/);
    const ok = signal(new Float32Array(4), [1, 2, 2]);
    // @ts-expect-error — an invalid name from untyped input
    expect(() => normaliseEcg(ok, 'zscore')).toThrow(/Expected one of: lead-range, none/);
  });
});

describe('Vm normalisation', () => {
  it('maps −85.50618677 mV to 0 and +50 mV to 1, and inverts', () => {
    const vm = signal(new Float32Array([-85.50618677, 50, 0, 20.5]), [1, 1, 4]);
    const n = normaliseVm(vm, 'vm-affine');
    expect(n.data[0]).toBeCloseTo(0, 7);
    expect(n.data[1]).toBeCloseTo(1, 7);
    expect(n.data[2]).toBeCloseTo(85.50618677 / 135.50618677, 7);
    const back = denormaliseVm(n, 'vm-affine');
    for (let i = 0; i < 4; i++) expect(back.data[i]).toBeCloseTo(vm.data[i]!, 4);
    expect(normaliseVmValue(0, 'vm-affine')).toBeCloseTo(0.631, 3);
  });
});

describe('limitTime (Exp II)', () => {
  it('keeps the first 10 steps of every lead and zeroes the rest', () => {
    const ecg = signal(
      Float32Array.from({ length: 2 * 12 * 500 }, (_, i) => i + 1),
      [2, 12, 500],
    );
    const out = limitTime(ecg);
    for (let row = 0; row < 24; row++) {
      for (let t = 0; t < 500; t++) {
        const v = out.data[row * 500 + t]!;
        if (t < LIMITED_TIME_STEPS) expect(v).toBe(row * 500 + t + 1);
        else expect(v).toBe(0);
      }
    }
    expect(ecg.data[499]).toBe(500); // the input is not modified
    expect(() => limitTime(ecg, 0)).toThrow(/keep must be an integer in 1\.\.500/);
  });
});

describe('prepareEcg for a model that reads only the first 10 ms', () => {
  // A QRS-like window: small first 10 ms, a large deflection later, so the two ranges differ.
  const data = new Float32Array(2 * 12 * 500);
  for (let row = 0; row < 24; row++)
    for (let t = 0; t < 500; t++)
      data[row * 500 + t] = (t < 10 ? 0.05 * t : 0) + (t === 200 ? 1.5 : 0) + row * 0.01;
  const ecg = signal(data, [2, 12, 500]);

  it('gives the Transformer Exp II input whatever limitedTime says, and the CNNs what it says', () => {
    expect(readsFirstStepsOnly('transformer')).toBe(true);
    expect(readsFirstStepsOnly('cnn-lstm')).toBe(false);
    const exp2 = prepareEcg(ecg, { limitedTime: true, method: 'lead-range' });
    const exp1 = prepareEcg(ecg, { limitedTime: false, method: 'lead-range' });
    const transformer = prepareEcg(ecg, {
      limitedTime: false,
      method: 'lead-range',
      architecture: 'transformer',
    });
    expect(Array.from(transformer.data)).toEqual(Array.from(exp2.data));
    // The whole window's range scales the same first 10 steps differently: the input it was not trained on.
    expect(Math.abs(exp1.data[5]! - exp2.data[5]!)).toBeGreaterThan(0.1);
    const cnn = prepareEcg(ecg, { limitedTime: false, method: 'lead-range', architecture: 'squeezenet1d' });
    expect(Array.from(cnn.data)).toEqual(Array.from(exp1.data));
  });
});
