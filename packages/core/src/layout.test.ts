import { describe, expect, it } from 'vitest';
import { InputError } from './errors.ts';
import {
  activationTimes,
  LEAD_NAMES,
  leadsFromElectrodes,
  N_ELECTRODES,
  NOT_ACTIVATED,
  NOT_REPOLARISED,
  repolarisationTimes,
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

/**
 * A stylised AP over `steps` ms: −85 mV rest, upstroke to +30 mV at `up`, a plateau sagging from +30 to
 * 0 mV, a linear phase 3 from 0 mV at `down` to −90 mV 60 ms later (an after-hyperpolarisation), then a
 * slow return to −85 mV. Vm is −60 mV at step `down` + 40 and below it from `down` + 41 on.
 */
function ap(steps: number, up: number, down: number): Float32Array {
  const v = new Float32Array(steps);
  for (let k = 0; k < steps; k++) {
    if (k < up) v[k] = -85;
    else if (k < down) v[k] = 30 - (30 * (k - up)) / (down - up);
    else if (k < down + 60) v[k] = -1.5 * (k - down);
    else v[k] = Math.min(-85, -90 + (k - down - 60) * 0.1);
  }
  return v;
}

describe('repolarisationTimes', () => {
  it('finds the downward crossing of −60 mV of a synthetic AP', () => {
    // −1.5 × 40 = −60 is not below −60; −1.5 × 41 is: step down + 41.
    const rt = repolarisationTimes(signal(ap(500, 20, 250), [1, 1, 500]));
    expect(Array.from(rt)).toEqual([291]);
    // Why not a level near rest: the trace dips to −90 mV and ends at −85 mV, above −88 mV, so it never
    // stays below that level.
    expect(Array.from(repolarisationTimes(signal(ap(500, 20, 250), [1, 1, 500]), -88))).toEqual([
      NOT_REPOLARISED,
    ]);
  });

  it('returns NOT_REPOLARISED for an AP that outlasts the window and for a site never activated', () => {
    const long = ap(500, 20, 480); // at step 499 Vm is −28.5 mV, still above −60
    const rest = new Float32Array(500).fill(-85);
    // Depolarised to −40 mV but never above 0 mV: not activated, so not repolarised either.
    const subthreshold = rest.map((v, k) => (k >= 100 && k < 200 ? -40 : v));
    const rt = repolarisationTimes(
      signal(Float32Array.from([...long, ...rest, ...subthreshold]), [1, 3, 500]),
    );
    expect(Array.from(rt)).toEqual([NOT_REPOLARISED, NOT_REPOLARISED, NOT_REPOLARISED]);
  });

  it('takes the last downward crossing when the trace wiggles around −60 mV', () => {
    const v = ap(500, 20, 250);
    // ±3 mV noise on the way down puts Vm back above −60 at steps 293, 294 and 297.
    v[293] = -58;
    v[294] = -59;
    v[297] = -59.5;
    expect(Array.from(repolarisationTimes(signal(v, [1, 1, 500])))).toEqual([298]);
  });

  it('is NOT_REPOLARISED when the trace ends above the level after a crossing (a second upstroke)', () => {
    const v = ap(500, 20, 250);
    for (let k = 480; k < 500; k++) v[k] = 10;
    expect(Array.from(repolarisationTimes(signal(v, [1, 1, 500])))).toEqual([NOT_REPOLARISED]);
  });

  it('ignores a downward crossing before activation', () => {
    // Starts above −60 mV, falls to rest, then fires.
    const v = ap(500, 100, 300);
    for (let k = 0; k < 10; k++) v[k] = -50;
    expect(Array.from(repolarisationTimes(signal(v, [1, 1, 500])))).toEqual([341]);
  });

  it('indexes the result [b × C + c] and reads each channel of each sample', () => {
    const [b, c, t] = [2, 3, 500];
    const data = new Float32Array(b * c * t);
    const down = (i: number) => 150 + 10 * i;
    for (let i = 0; i < b * c; i++) data.set(ap(t, 10 + i, down(i)), i * t);
    const rt = repolarisationTimes(signal(data, [b, c, t]));
    expect(Array.from(rt)).toEqual(Array.from({ length: b * c }, (_, i) => down(i) + 41));
    expect(rt[1 * c + 2]).toBe(down(5) + 41);
  });

  it('accepts other levels (normalised scales)', () => {
    // (V + 85.5) / 135.5: 0 mV → 0.631; −61 mV (no sample sits on it, unlike −60) → 0.181.
    const norm = ap(500, 20, 250).map((v) => (v + 85.5) / 135.5);
    const rt = repolarisationTimes(signal(norm, [1, 1, 500]), 24.5 / 135.5, 85.5 / 135.5);
    expect(Array.from(rt)).toEqual([291]);
  });

  it('rejects data that does not match its shape', () => {
    expect(() => repolarisationTimes({ data: new Float32Array(499), shape: [1, 1, 500] })).toThrow(
      /shape \[1, 1, 500\] needs 500 values, got 499/,
    );
    expect(() => repolarisationTimes({ data: new Float32Array(0), shape: [0, 75, 500] })).toThrow(InputError);
    expect(() => activationTimes({ data: new Float32Array(10), shape: [1, 75, 500] })).toThrow(InputError);
  });
});
