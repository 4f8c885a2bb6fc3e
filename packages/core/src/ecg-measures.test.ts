import { describe, expect, it } from 'vitest';
import { measureEcg } from './ecg-measures.ts';
import { N_LEADS } from './layout.ts';

const T = 700;

/** sin² bump on [start, start + width) (0 outside), peak 1. */
const bump = (t: number, start: number, width: number) =>
  t < start || t >= start + width ? 0 : Math.sin((Math.PI * (t - start)) / width) ** 2;

interface Beat {
  qrsStart: number;
  qrsWidth: number;
  axisDeg: number;
  /** Peak frontal QRS vector (mV). */
  frontalMv: number;
  /** Precordial (r, s) peak sizes (mV), r in the first half of the QRS and s in the second. */
  rs: readonly (readonly [number, number])[];
  tStart: number;
  tWidth: number;
  tMv: number;
  offsetMv?: number;
}

/**
 * A synthetic beat: one frontal QRS vector of fixed direction projected on the hexaxial leads, precordial
 * r then s, and a T wave in the QRS direction.
 */
function beat(b: Beat): Float32Array {
  const out = new Float32Array(N_LEADS * T);
  const th = (b.axisDeg * Math.PI) / 180;
  const set = (l: number, t: number, v: number) => {
    out[l * T + t] = v + (b.offsetMv ?? 0);
  };
  for (let t = 0; t < T; t++) {
    const h = b.frontalMv * bump(t, b.qrsStart, b.qrsWidth) + b.tMv * bump(t, b.tStart, b.tWidth);
    const lI = h * Math.cos(th);
    const lII = h * Math.cos(th - Math.PI / 3);
    const lIII = lII - lI;
    [lI, lII, lIII, -(lI + lII) / 2, (lI - lIII) / 2, (lII + lIII) / 2].forEach((v, l) => {
      set(l, t, v);
    });
    b.rs.forEach(([r, s], k) => {
      const half = b.qrsWidth / 2;
      const v =
        r * bump(t, b.qrsStart, half) -
        s * bump(t, b.qrsStart + half, half) +
        0.2 * b.tMv * bump(t, b.tStart, b.tWidth);
      set(6 + k, t, v);
    });
  }
  return out;
}

const normal: Beat = {
  qrsStart: 100,
  qrsWidth: 90,
  axisDeg: 60,
  frontalMv: 1.2,
  rs: [
    [0.2, 1.0],
    [0.4, 1.2],
    [0.8, 0.8],
    [1.2, 0.5],
    [1.4, 0.3],
    [1.1, 0.2],
  ],
  tStart: 320,
  tWidth: 200,
  tMv: 0.3,
};

describe('measureEcg', () => {
  it('finds the QRS boundaries and duration of a known beat within a few ms', () => {
    for (const width of [70, 90, 130]) {
      const m = measureEcg(beat({ ...normal, qrsWidth: width }));
      expect(Math.abs(m.qrsOnsetMs - 100)).toBeLessThanOrEqual(4);
      expect(Math.abs(m.qrsOffsetMs - (100 + width))).toBeLessThanOrEqual(4);
      expect(Math.abs(m.qrsDurationMs - width)).toBeLessThanOrEqual(6);
    }
  });

  it('recovers the frontal axis in every quadrant', () => {
    for (const axis of [-90, -30, 0, 45, 60, 90, 120, 179]) {
      const m = measureEcg(beat({ ...normal, axisDeg: axis }));
      expect(Math.abs(m.axisDeg - axis)).toBeLessThan(1);
    }
  });

  it('reports peak-to-peak amplitude per lead and R, S, R/S in V1–V6', () => {
    const m = measureEcg(beat(normal));
    expect(m.qrsAmplitudeMv.I).toBeCloseTo(1.2 * Math.cos(Math.PI / 3), 2);
    expect(m.qrsAmplitudeMv.II).toBeCloseTo(1.2, 2);
    expect(m.qrsAmplitudeMv.V1).toBeCloseTo(1.2, 2);
    const v1 = m.precordial[0]!;
    expect(v1.lead).toBe('V1');
    expect(v1.rMv).toBeCloseTo(0.2, 2);
    expect(v1.sMv).toBeCloseTo(1.0, 2);
    expect(v1.rsRatio).toBeCloseTo(0.2, 2);
    expect(m.precordial[5]!.rsRatio).toBeCloseTo(5.5, 1);
  });

  it('counts a negative deflection before R as q, not S, while it is smaller than R', () => {
    const m = measureEcg(
      beat({ ...normal, rs: normal.rs.map(([r, s]) => [-0.25 * (r + s), -(r + s)] as const) }),
    );
    // Each lead is now a small negative wave then a larger positive one: q then R, no S.
    for (const p of m.precordial) {
      expect(p.sMv).toBe(0);
      expect(p.rsRatio).toBe(Number.POSITIVE_INFINITY);
    }
  });

  it('reads a deep negative wave before a small positive one (QS with a late wave) as S', () => {
    const qs = beat({ ...normal, rs: normal.rs.map(([, s]) => [-s, -0.15] as const) });
    const v1 = measureEcg(qs).precordial[0]!;
    expect(v1.rMv).toBeCloseTo(0.15, 2);
    expect(v1.sMv).toBeCloseTo(1.0, 2);
    expect(v1.rsRatio).toBeCloseTo(0.15, 2);
  });

  it('measures the first complex as the QRS even when the T wave is steeper', () => {
    // A slow QRS (120 ms, 0.8 mV, no precordial part) and a narrower T wave in every lead: the T's
    // spatial velocity is about twice the QRS's.
    const m = measureEcg(beat({ ...normal, qrsWidth: 120, frontalMv: 0.8, rs: [], tMv: 0.8, tWidth: 100 }));
    expect(Math.abs(m.qrsOnsetMs - 100)).toBeLessThanOrEqual(6);
    expect(Math.abs(m.qrsDurationMs - 120)).toBeLessThanOrEqual(8);
  });

  it('measures QT to the tangent T end, independent of a DC offset', () => {
    const m = measureEcg(beat({ ...normal, offsetMv: 0.7 }));
    // For a sin² T wave the tangent at the steepest point (3/4 of the width) meets zero at
    // start + width·(3/4 + 1/(2π)).
    const expected = 320 + 200 * (0.75 + 1 / (2 * Math.PI));
    expect(Math.abs(m.tEndMs - expected)).toBeLessThan(3);
    expect(Math.abs(m.qtMs - (expected - 100))).toBeLessThan(5);
    expect(m.qrsAmplitudeMv.II).toBeCloseTo(1.2, 2);
  });

  it('gives NaN QT when the T wave does not end inside the record', () => {
    const m = measureEcg(beat({ ...normal, tStart: 560, tWidth: 250 }));
    expect(m.tEndMs).toBeNaN();
    expect(m.qtMs).toBeNaN();
    expect(m.qrsDurationMs).toBeGreaterThan(80);
  });

  it('rejects a wrong length, NaN and a flat record with clear errors', () => {
    expect(() => measureEcg(new Float32Array(12 * 500 + 1))).toThrow(/expected 12 × T values/);
    expect(() => measureEcg(new Float32Array(11 * 50))).toThrow(/expected 12 × T values/);
    const bad = beat(normal);
    bad[7 * T + 42] = Number.NaN;
    expect(() => measureEcg(bad)).toThrow(/non-finite value NaN at lead V2, sample 42/);
    expect(() => measureEcg(new Float64Array(12 * 500))).toThrow(/flat record/);
  });
});
