/**
 * The page's scores: core's metrics on the normalised Vm scale, the MAE in mV and the activation- and
 * repolarisation-time errors.
 */

import { N_SITES, N_STEPS, VM_SPAN_MV } from '@ecg-tmp/core';
import { describe, expect, it } from 'vitest';
import { scoreSample } from './score.ts';

/** Every site rests at −85 mV and jumps to +20 mV at step `at(site)`. */
function upstrokes(at: (site: number) => number): Float32Array {
  const tmp = new Float32Array(N_SITES * N_STEPS);
  for (let s = 0; s < N_SITES; s++)
    for (let t = 0; t < N_STEPS; t++) tmp[s * N_STEPS + t] = t >= at(s) ? 20 : -85;
  return tmp;
}

/** Like upstrokes, then back to −85 mV at step `down(site)` (500 or later: still up at the end). */
function aps(at: (site: number) => number, down: (site: number) => number): Float32Array {
  const tmp = upstrokes(at);
  for (let s = 0; s < N_SITES; s++)
    tmp.fill(-85, s * N_STEPS + Math.min(N_STEPS, down(s)), (s + 1) * N_STEPS);
  return tmp;
}

describe('scoreSample', () => {
  it('is perfect for the truth itself', () => {
    const truth = upstrokes((s) => 10 + s);
    const score = scoreSample(truth, truth, 'vm-affine');
    expect(score).toMatchObject({ mae: 0, r2: 1, maeMv: 0, activationMaeMs: 0, scale: 'vm-affine' });
    const ap = aps(
      (s) => 10 + s,
      (s) => 300 + s,
    );
    expect(scoreSample(ap, ap, 'vm-affine').repolarisationMaeMs).toBe(0);
  });

  it('reports the MAE on the normalised scale (mV / 135.5) and activation errors in ms', () => {
    const truth = upstrokes((s) => 10 + s);
    const shifted = truth.map((v) => v + 5);
    const score = scoreSample(truth, shifted, 'vm-affine');
    expect(score.maeMv).toBeCloseTo(5, 5);
    expect(score.mae).toBeCloseTo(5 / VM_SPAN_MV, 6);
    const late = scoreSample(
      truth,
      upstrokes((s) => 13 + s),
      'vm-affine',
    );
    expect(late.activationMaeMs).toBe(3);
  });

  it('leaves sites that never activate out of the activation error', () => {
    const truth = upstrokes((s) => (s === 0 ? N_STEPS : 10));
    expect(
      scoreSample(
        truth,
        upstrokes(() => 12),
        'vm-affine',
      ).activationMaeMs,
    ).toBe(2);
    expect(
      scoreSample(
        truth,
        upstrokes(() => N_STEPS),
        'vm-affine',
      ).activationMaeMs,
    ).toBeNaN();
  });
});

describe('scoreSample repolarisation error', () => {
  it('is the mean |predicted − true| time of the last fall below −60 mV, in ms', () => {
    const truth = aps(
      (s) => 10 + s,
      (s) => 300 + s,
    );
    // Sites 0–24 repolarise 4 ms late, the rest 6 ms early; activation is 1 ms late everywhere.
    const pred = aps(
      (s) => 11 + s,
      (s) => (s < 25 ? 304 : 294) + s,
    );
    const score = scoreSample(truth, pred, 'vm-affine');
    expect(score.activationMaeMs).toBe(1);
    expect(score.repolarisationMaeMs).toBeCloseTo((25 * 4 + 50 * 6) / 75, 12);
  });

  it('leaves out sites not back below −60 mV by 500 ms, in the truth or the prediction', () => {
    const truth = aps(
      () => 10,
      (s) => (s === 0 ? N_STEPS : 300),
    );
    const pred = aps(
      () => 10,
      (s) => (s === 1 ? N_STEPS : s === 0 ? 100 : 310),
    );
    // Site 0 (truth still up) and site 1 (prediction still up) are out; the other 73 are 10 ms late.
    expect(scoreSample(truth, pred, 'vm-affine').repolarisationMaeMs).toBe(10);
    expect(
      scoreSample(
        truth,
        upstrokes(() => 10),
        'vm-affine',
      ).repolarisationMaeMs,
    ).toBeNaN();
  });
});
