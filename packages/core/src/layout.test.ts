import { describe, expect, it } from 'vitest';
import { InputError } from './errors.ts';
import {
  activationTimes,
  LEAD_NAMES,
  leadsFromElectrodes,
  N_ELECTRODES,
  NOT_ACTIVATED,
  signal,
  timeMajorToChannelMajor,
} from './layout.ts';

function randomElectrodes(steps: number, seed = 1): Float64Array {
  let s = seed;
  const out = new Float64Array(steps * N_ELECTRODES);
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648 - 0.5) * 4;
  }
  return out;
}

describe('leadsFromElectrodes', () => {
  it('follows the data-layout formula for every lead', () => {
    const steps = 7;
    const e = randomElectrodes(steps);
    const leads = leadsFromElectrodes(e, steps);
    for (let t = 0; t < steps; t++) {
      const [ra, la, ll, , v1, v2, v3, v4, v5, v6] = Array.from(e.subarray(t * 10, t * 10 + 10));
      const w = (ra! + la! + ll!) / 3;
      const expected = [
        la! - ra!,
        ll! - ra!,
        ll! - la!,
        1.5 * (ra! - w),
        1.5 * (la! - w),
        1.5 * (ll! - w),
        v1! - w,
        v2! - w,
        v3! - w,
        v4! - w,
        v5! - w,
        v6! - w,
      ];
      LEAD_NAMES.forEach((_, k) => {
        expect(leads[k * steps + t]).toBeCloseTo(expected[k]!, 6);
      });
    }
  });

  it('satisfies Einthoven (I + III = II) and Goldberger (aVR + aVL + aVF = 0)', () => {
    const steps = 500;
    const leads = leadsFromElectrodes(randomElectrodes(steps, 7), steps);
    for (let t = 0; t < steps; t++) {
      expect(Math.abs(leads[t]! + leads[2 * steps + t]! - leads[steps + t]!)).toBeLessThan(1e-6);
      expect(Math.abs(leads[3 * steps + t]! + leads[4 * steps + t]! + leads[5 * steps + t]!)).toBeLessThan(
        1e-6,
      );
    }
  });

  it('ignores RL', () => {
    const e = randomElectrodes(3);
    const a = leadsFromElectrodes(e, 3);
    for (let t = 0; t < 3; t++) e[t * 10 + 3] = 1000;
    expect(leadsFromElectrodes(e, 3)).toEqual(a);
  });

  it('rejects a wrong number of values, naming the expected layout', () => {
    expect(() => leadsFromElectrodes(new Float64Array(99), 10)).toThrow(
      /10×10 values \(time-major\), got 99/,
    );
  });
});

describe('signal and layout helpers', () => {
  it('checks shapes', () => {
    expect(() => signal(new Float32Array(10), [1, 12, 500], 'ecg')).toThrow(InputError);
    expect(() => signal(new Float32Array(0), [0, 12, 500], 'ecg')).toThrow(
      /batch must be a positive integer/,
    );
    expect(signal(new Float32Array(24), [2, 12, 1]).shape).toEqual([2, 12, 1]);
  });

  it('transposes time-major records into channel-major', () => {
    // 3 steps × 2 channels: row t = [10t, 10t + 1]
    const out = timeMajorToChannelMajor([0, 1, 10, 11, 20, 21], 3, 2);
    expect(Array.from(out)).toEqual([0, 10, 20, 1, 11, 21]);
  });
});

describe('activationTimes', () => {
  it('returns the first step above 0 mV, or NOT_ACTIVATED', () => {
    const t = 6;
    const data = new Float32Array([
      ...[-85, -85, 0, 5, 20, 10], // 0 mV is not > 0: first is step 3
      ...[-85, -85, -85, -85, -85, -85],
      ...[1, -85, -85, -85, -85, -85],
    ]);
    const at = activationTimes(signal(data, [1, 3, t]));
    expect(Array.from(at)).toEqual([3, NOT_ACTIVATED, 0]);
  });

  it('accepts another threshold (normalised scales)', () => {
    const at = activationTimes(signal(new Float32Array([0.1, 0.5, 0.7]), [1, 1, 3]), 0.631);
    expect(Array.from(at)).toEqual([2]);
  });
});
