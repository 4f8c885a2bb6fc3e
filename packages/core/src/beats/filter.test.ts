import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.ts';
import { type Signal, signal } from '../layout.ts';
import { createEcgFilter } from './filter.ts';

const RATE = 1000;
const N = 10_000;

function tone(hz: number, mv = 1, phase = 0.3): Float32Array {
  return Float32Array.from({ length: N }, (_, t) => mv * Math.sin((2 * Math.PI * hz * t) / RATE + phase));
}

function oneChannel(x: Float32Array): Signal {
  return signal(x, [1, 1, x.length]);
}

/** Output over input RMS in dB, over the middle 8 s (the ends' transients are judged separately). */
function gainDb(hz: number, filter = createEcgFilter()): number {
  const x = tone(hz);
  const y = filter(oneChannel(x)).data;
  const rms = (v: Float32Array) => {
    let s = 0;
    for (let t = 1000; t < N - 1000; t++) s += v[t]! ** 2;
    return Math.sqrt(s / (N - 2000));
  };
  return 20 * Math.log10(rms(y) / rms(x));
}

describe('createEcgFilter', () => {
  it('keeps the ECG band: 2–40 Hz and 70–150 Hz within 0.12 dB, 1 Hz and 45 Hz within 0.6 dB', () => {
    for (const hz of [2, 5, 10, 20, 30, 40, 70, 100, 150]) expect(Math.abs(gainDb(hz))).toBeLessThan(0.12);
    for (const hz of [1, 45]) expect(Math.abs(gainDb(hz))).toBeLessThan(0.6);
  });

  it('removes baseline wander: ≥ 30 dB at 0.2 Hz, ≥ 50 dB at 0.1 Hz, −6 dB at the 0.5 Hz corner', () => {
    expect(gainDb(0.2)).toBeLessThan(-30);
    expect(gainDb(0.1)).toBeLessThan(-50);
    // −6.02 dB in the steady state; over 8 s of a 10 s record the ends' settling shows (−6.17 dB).
    expect(gainDb(0.5)).toBeCloseTo(-6.02, 0);
  });

  it('removes mains hum: ≥ 40 dB at 50 and 60 Hz over a 10 s record, and a 50 Hz-only filter leaves 60 Hz alone', () => {
    expect(gainDb(50)).toBeLessThan(-40);
    expect(gainDb(60)).toBeLessThan(-40);
    const only50 = createEcgFilter({ mainsHz: [50] });
    expect(gainDb(50, only50)).toBeLessThan(-40);
    expect(Math.abs(gainDb(60, only50))).toBeLessThan(0.1);
  });

  it('is zero-phase: a QRS-like pulse keeps its peak time and its shape under wander and hum', () => {
    const pulse = Float32Array.from({ length: N }, (_, t) => 1.5 * Math.exp(-(((t - 5000) / 12) ** 2)));
    const noisy = pulse.map(
      (v, t) =>
        v +
        0.8 * Math.sin((2 * Math.PI * 0.15 * t) / RATE + 1) +
        0.2 * Math.sin((2 * Math.PI * 50 * t) / RATE),
    );
    const y = createEcgFilter()(oneChannel(noisy)).data;
    let peak = 0;
    for (let t = 0; t < N; t++) if (y[t]! > y[peak]!) peak = t;
    expect(peak).toBe(5000);
    let err = 0;
    for (let t = 4800; t < 5200; t++) err = Math.max(err, Math.abs(y[t]! - pulse[t]!));
    // The notches and the high-pass take ~0.03 mV out of a 1.5 mV, 20 ms wide pulse.
    expect(err).toBeLessThan(0.05);
  });

  it("removes hum up to the record's ends: under 30 µV of 0.2 mV left in the first and last 100 ms", () => {
    for (const phase of [0, 0.7, 1.5, 2.9]) {
      for (const hz of [50, 60]) {
        const y = createEcgFilter()(oneChannel(tone(hz, 0.2, phase))).data;
        const rms = (a: number, b: number) =>
          Math.sqrt(y.subarray(a, b).reduce((s, v) => s + v * v, 0) / (b - a));
        expect(rms(0, 100)).toBeLessThan(0.03);
        expect(rms(N - 100, N)).toBeLessThan(0.03);
      }
    }
  });

  it('starts and ends without ringing: a constant offset filters to ~0 everywhere, ends included', () => {
    const y = createEcgFilter()(oneChannel(new Float32Array(3000).fill(2.5))).data;
    expect(Math.max(...y.map(Math.abs))).toBeLessThan(1e-6);
  });

  it('filters every channel of a batch, and copies short or unfiltered signals', () => {
    const two = new Float32Array(2 * N);
    two.set(tone(50), 0);
    two.set(tone(10), N);
    const y = createEcgFilter({ highPassHz: 0, mainsHz: [50] })(signal(two, [1, 2, N])).data;
    expect(Math.max(...y.subarray(2000, N - 2000).map(Math.abs))).toBeLessThan(0.02);
    expect(y[N + 5000]).toBeCloseTo(two[N + 5000]!, 3);
    const one = Float32Array.of(3);
    expect(createEcgFilter()(signal(one, [1, 1, 1])).data).toEqual(one);
    const off = createEcgFilter({ highPassHz: 0, mainsHz: [] })(oneChannel(tone(0.1))).data;
    expect(off).toEqual(tone(0.1));
  });

  it('refuses what it cannot honour, with InputError', () => {
    expect(() => createEcgFilter({ rateHz: 0 })).toThrow(InputError);
    expect(() => createEcgFilter({ rateHz: 100 })).toThrow(/mains 50 Hz must be above 0 and under 50 Hz/);
    expect(() => createEcgFilter({ highPassHz: -1 })).toThrow(/high-pass -1 Hz/);
    expect(() => createEcgFilter({ notchQ: Number.NaN })).toThrow(/notch Q/);
  });
});
