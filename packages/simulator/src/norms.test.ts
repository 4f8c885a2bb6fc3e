import { type EcgMeasures, leadsFromElectrodes, measureEcg, N_STEPS } from '@ecg-tmp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from './simulator.ts';

// The normal scenario against published adult ECG norms (npm run ecg-norms prints the full table).
const COUNT = 40;
let measures: EcgMeasures[];
beforeAll(() => {
  const sim = createSimulator();
  measures = Array.from({ length: COUNT }, (_, i) =>
    measureEcg(leadsFromElectrodes(sim.simulate(3, i, { variant: 'normal' }).electrodes, N_STEPS)),
  );
});

const median = (f: (m: EcgMeasures) => number) => {
  const v = measures.map(f).sort((a, b) => a - b);
  return (v[(COUNT - 1) >> 1]! + v[COUNT >> 1]!) / 2;
};

describe('normal scenario within adult ECG norms (medians of 40 seeded samples)', () => {
  it('QRS 80–110 ms and frontal axis −30°…+90°', () => {
    const qrs = median((m) => m.qrsDurationMs);
    expect(qrs).toBeGreaterThanOrEqual(80);
    expect(qrs).toBeLessThanOrEqual(110);
    const axis = median((m) => m.axisDeg);
    expect(axis).toBeGreaterThanOrEqual(-30);
    expect(axis).toBeLessThanOrEqual(90);
  });

  it('R/S < 1 in V1 and > 1 in V5 and V6', () => {
    expect(median((m) => m.precordial[0]!.rsRatio)).toBeLessThan(1);
    expect(median((m) => m.precordial[4]!.rsRatio)).toBeGreaterThan(1);
    expect(median((m) => m.precordial[5]!.rsRatio)).toBeGreaterThan(1);
  });

  it('limb-lead QRS 0.5–2 mV peak-to-peak in every limb lead', () => {
    for (const lead of ['I', 'II', 'III', 'aVR', 'aVL', 'aVF'] as const) {
      const pp = median((m) => m.qrsAmplitudeMv[lead]);
      expect(pp, lead).toBeGreaterThanOrEqual(0.5);
      expect(pp, lead).toBeLessThanOrEqual(2);
    }
  });
});
