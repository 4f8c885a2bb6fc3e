/**
 * @module
 * The resampler on sinusoids: tones in the passband come out as the same tone at the new rate (gain and
 * phase), with no images when upsampling; tones above the new Nyquist, when downsampling, come out
 * gone. Edges are left out of the measure: there the input is held at its end values.
 */

import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.ts';
import { resample } from './resample.ts';

/** n samples of sin(2π f t + φ) at `rate`. */
function tone(f: number, rate: number, n: number, phase = 0.3): Float64Array {
  return Float64Array.from({ length: n }, (_, k) => Math.sin((2 * Math.PI * f * k) / rate + phase));
}

/** Largest |out − ideal| over the middle of the output (a margin of 0.2 s at each end). */
function worstError(out: Float32Array, f: number, rate: number, phase = 0.3): number {
  const ideal = tone(f, rate, out.length, phase);
  const margin = Math.round(0.2 * rate);
  let worst = 0;
  for (let k = margin; k < out.length - margin; k++) worst = Math.max(worst, Math.abs(out[k]! - ideal[k]!));
  return worst;
}

function rmsMiddle(out: Float32Array, rate: number): number {
  const margin = Math.round(0.2 * rate);
  let sum = 0;
  for (let k = margin; k < out.length - margin; k++) sum += out[k]! ** 2;
  return Math.sqrt(sum / (out.length - 2 * margin));
}

const dB = (x: number) => 20 * Math.log10(x);

describe('resample', () => {
  it.each([250, 360, 500, 257.5, 999])(
    'upsamples %s Hz → 1 kHz: passband tones within 0.01 dB and no images above −80 dB',
    (rate) => {
      const nyquist = rate / 2;
      for (const fraction of [0.02, 0.2, 0.5, 0.8]) {
        const f = fraction * nyquist;
        const [out] = resample([tone(f, rate, Math.round(2 * rate))], rate, 1000);
        expect(out!.length).toBe(Math.ceil((Math.round(2 * rate) * 1000) / rate - 1e-9));
        // A gain error of 0.01 dB is 0.00115 of the amplitude; an image at −80 dB is 1e-4 of it.
        expect(dB(worstError(out!, f, 1000)), `${f} Hz`).toBeLessThan(-80);
      }
    },
  );

  it.each([2000, 1024, 4000, 8192])(
    'downsamples %s Hz → 1 kHz: passband kept, everything from 500 Hz up below −80 dB',
    (rate) => {
      for (const f of [10, 100, 250, 400]) {
        const [out] = resample([tone(f, rate, 2 * rate)], rate, 1000);
        expect(out!.length).toBe(2000);
        expect(dB(worstError(out!, f, 1000)), `${f} Hz`).toBeLessThan(-80);
      }
      for (const f of [500, 520, 700, 0.49 * rate].filter((f) => f < rate / 2)) {
        const [out] = resample([tone(f, rate, 2 * rate)], rate, 1000);
        expect(dB(rmsMiddle(out!, 1000) * Math.SQRT2), `${f} Hz`).toBeLessThan(-80);
      }
    },
  );

  it('keeps a constant exactly and holds the ends (no ringing from a baseline offset)', () => {
    const [flat] = resample([new Float64Array(1000).fill(-0.7)], 500, 1000);
    expect(new Set(flat)).toEqual(new Set([Math.fround(-0.7)]));
    const [ramp] = resample([Float64Array.from({ length: 500 }, (_, k) => k / 500)], 500, 1000);
    expect(ramp![0]).toBeCloseTo(0, 3);
    expect(ramp!.at(-1)).toBeCloseTo(499 / 500, 2);
  });

  it('resamples several channels with the same weights, and copies at equal rates', () => {
    const a = tone(7, 360, 720);
    const b = tone(40, 360, 720, 1);
    const [ra, rb] = resample([a, b], 360, 1000);
    expect(ra).toEqual(resample([a], 360, 1000)[0]);
    expect(rb).toEqual(resample([b], 360, 1000)[0]);
    const same = resample([a], 1000, 1000)[0]!;
    expect(same).toEqual(Float32Array.from(a));
    expect(resample([new Float32Array(0)], 500, 1000)[0]!.length).toBe(0);
  });

  it('rejects bad rates and ragged channels with an InputError', () => {
    expect(() => resample([[1, 2]], 0, 1000)).toThrow(InputError);
    expect(() => resample([[1, 2]], Number.NaN, 1000)).toThrow(/from rate must be a positive number/);
    expect(() => resample([[1, 2]], 500, -1)).toThrow(/to rate/);
    expect(() => resample([[1, 2], [1]], 500, 1000)).toThrow(/same length/);
  });
});
