/**
 * The page's scores: core's metrics on the normalised Vm scale, the MAE in mV and the activation-time
 * error.
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

describe('scoreSample', () => {
  it('is perfect for the truth itself', () => {
    const truth = upstrokes((s) => 10 + s);
    const score = scoreSample(truth, truth, 'vm-affine');
    expect(score).toMatchObject({ mae: 0, r2: 1, maeMv: 0, activationMaeMs: 0, scale: 'vm-affine' });
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
