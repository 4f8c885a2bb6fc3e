import {
  activationTimes,
  leadsFromElectrodes,
  N_ELECTRODES,
  N_LEADS,
  N_SITES,
  N_STEPS,
  NOT_ACTIVATED,
  signal,
  timeMajorToChannelMajor,
} from '@ecg-tmp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { VARIANTS } from './scenarios.ts';
import { createSimulator, type SimulationResult, type Simulator } from './simulator.ts';

let sim: Simulator;
const samples: SimulationResult[] = [];
beforeAll(() => {
  sim = createSimulator();
  for (let i = 0; i < 60; i++) samples.push(sim.simulate(11, i));
});

/** QRS width from the 12 leads: span over which the summed absolute slope exceeds 15% of its peak. */
function qrsWidthMs(leads: Float32Array): number {
  const slope = new Float64Array(220);
  for (let t = 0; t < 220; t++) {
    for (let l = 0; l < N_LEADS; l++)
      slope[t]! += Math.abs(leads[l * N_STEPS + t + 1]! - leads[l * N_STEPS + t]!);
  }
  const thr = 0.15 * Math.max(...slope);
  const on = slope.findIndex((s) => s > thr);
  const off = slope.findLastIndex((s) => s > thr);
  return off - on;
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const ma = a.reduce((x, y) => x + y, 0) / a.length;
  const mb = b.reduce((x, y) => x + y, 0) / b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  a.forEach((x, i) => {
    sab += (x - ma) * (b[i]! - mb);
    saa += (x - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  });
  return sab / Math.sqrt(saa * sbb);
}

describe('simulate: layout and leads', () => {
  it('returns 500×10 electrodes and 500×75 Vm, time-major, with a layout-compatible name', () => {
    const r = samples[0]!;
    expect(r.electrodes).toHaveLength(N_STEPS * N_ELECTRODES);
    expect(r.vm).toHaveLength(N_STEPS * N_SITES);
    expect(r.activationMs).toHaveLength(sim.mesh.nodeCount);
    expect(r.name).toMatch(new RegExp(`^hearts_dd_0p2_${r.variant}_seed\\.11\\.idx\\.000000$`));
    expect(new Set(samples.map((s) => s.variant)).size).toBeGreaterThanOrEqual(4);
  });

  it('derived leads obey Einthoven (I + III = II) and Goldberger (aVR + aVL + aVF = 0)', () => {
    for (const r of samples.slice(0, 10)) {
      const leads = leadsFromElectrodes(r.electrodes, N_STEPS);
      for (let t = 0; t < N_STEPS; t++) {
        const [I, II, III, aVR, aVL, aVF] = [0, 1, 2, 3, 4, 5].map((l) => leads[l * N_STEPS + t]!);
        expect(Math.abs(I! + III! - II!)).toBeLessThan(1e-5);
        expect(Math.abs(aVR! + aVL! + aVF!)).toBeLessThan(1e-5);
      }
    }
  });
});

describe('simulate: membrane voltage', () => {
  it('rests near −85.5 mV, peaks at +20…+49 mV and repolarises within the window', () => {
    for (const r of samples) {
      for (let s = 0; s < N_SITES; s++) {
        let min = Number.POSITIVE_INFINITY;
        let max = Number.NEGATIVE_INFINITY;
        for (let t = 0; t < N_STEPS; t++) {
          min = Math.min(min, r.vm[t * N_SITES + s]!);
          max = Math.max(max, r.vm[t * N_SITES + s]!);
        }
        const first = r.vm[s]!;
        if (r.siteActivationMs[s] === NOT_ACTIVATED) {
          expect(max).toBeCloseTo(first, 9); // blocked tissue stays at rest
          continue;
        }
        if (r.siteActivationMs[s]! > 1) expect(first).toBeCloseTo(r.params.ap.restMv, 9);
        expect(min).toBeGreaterThanOrEqual(-93);
        expect(min).toBeLessThanOrEqual(-80);
        expect(max).toBeGreaterThanOrEqual(20);
        expect(max).toBeLessThanOrEqual(49);
        expect(r.vm[(N_STEPS - 1) * N_SITES + s]!).toBeLessThan(-60);
      }
      expect(r.params.ap.restMv).toBeGreaterThan(-93);
      expect(r.params.ap.restMv).toBeLessThan(-80);
    }
  });

  it('records every site at its own position: no two of the 75 Vm traces are copies', () => {
    for (const r of samples.slice(0, 10)) {
      const traces = new Set<string>();
      for (let s = 0; s < N_SITES; s++) {
        const column = Array.from({ length: N_STEPS }, (_, t) => r.vm[t * N_SITES + s]!.toFixed(6));
        traces.add(column.join(','));
      }
      expect(traces.size).toBe(N_SITES);
    }
  });

  it('activation times read from Vm (first step > 0 mV) match the eikonal times at the sites', () => {
    for (const r of samples) {
      const tmp = signal(timeMajorToChannelMajor(r.vm, N_STEPS, N_SITES), [1, N_SITES, N_STEPS]);
      const fromVm = activationTimes(tmp);
      for (let s = 0; s < N_SITES; s++) {
        const eik = r.siteActivationMs[s]!;
        if (eik === NOT_ACTIVATED) {
          expect(fromVm[s]).toBe(NOT_ACTIVATED);
          continue;
        }
        expect(Math.abs(fromVm[s]! - eik)).toBeLessThanOrEqual(2);
      }
    }
  });

  it('total activation time is physiological for normal beats and longer for blocks and ectopy', () => {
    const tat = (v: string) => samples.filter((s) => s.variant === v).map((s) => s.totalActivationMs);
    const normal = tat('normal');
    expect(normal.length).toBeGreaterThan(5);
    for (const t of normal) expect(t).toBeGreaterThanOrEqual(50);
    for (const t of normal) expect(t).toBeLessThanOrEqual(120);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const abnormal = [...tat('lbbb'), ...tat('rbbb'), ...tat('ectopic')];
    expect(mean(abnormal)).toBeGreaterThan(mean(normal) + 20);
  });
});

describe('simulate: ECG', () => {
  it('QRS width measured on the ECG tracks the total activation time', () => {
    const widths = samples.map((r) => qrsWidthMs(leadsFromElectrodes(r.electrodes, N_STEPS)));
    expect(
      pearson(
        widths,
        samples.map((r) => r.totalActivationMs),
      ),
    ).toBeGreaterThan(0.6);
  });

  it('QRS amplitudes are 0.3–1.5 mV in most leads and every potential lies within −6…+5.5 mV', () => {
    let inRange = 0;
    let total = 0;
    let lo = 0;
    let hi = 0;
    for (const r of samples) {
      for (const v of r.electrodes) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      const leads = leadsFromElectrodes(r.electrodes, N_STEPS);
      const end = Math.ceil(r.totalActivationMs) + 10;
      for (let l = 0; l < N_LEADS; l++) {
        let peak = 0;
        for (let t = 0; t < end; t++) peak = Math.max(peak, Math.abs(leads[l * N_STEPS + t]!));
        if (peak >= 0.3 && peak <= 1.5) inRange++;
        total++;
      }
    }
    expect(inRange / total).toBeGreaterThan(0.6);
    expect(lo).toBeGreaterThanOrEqual(-6);
    expect(hi).toBeLessThanOrEqual(5.5);
    expect(hi - lo).toBeGreaterThan(1); // not a flat line either
  });

  it('normal beats: aVR QRS negative, II positive, T wave upright in II', () => {
    for (const r of samples.filter((s) => s.variant === 'normal')) {
      const leads = leadsFromElectrodes(r.electrodes, N_STEPS);
      const dominant = (l: number) => {
        let best = 0;
        for (let t = 0; t < 120; t++)
          if (Math.abs(leads[l * N_STEPS + t]!) > Math.abs(best)) best = leads[l * N_STEPS + t]!;
        return best;
      };
      expect(dominant(3)).toBeLessThan(0);
      expect(dominant(1)).toBeGreaterThan(0);
      let tWave = 0;
      for (let t = 200; t < 450; t++) tWave += leads[N_STEPS + t]!;
      expect(tWave).toBeGreaterThan(0);
    }
  });
});

describe('simulate: determinism, variants and noise', () => {
  it('same (seed, index) gives identical bytes, in any order and from a fresh instance; other seeds differ', () => {
    const again = createSimulator().simulate(11, 5);
    expect(Buffer.from(again.electrodes.buffer)).toEqual(Buffer.from(samples[5]!.electrodes.buffer));
    expect(Buffer.from(again.vm.buffer)).toEqual(Buffer.from(samples[5]!.vm.buffer));
    const other = sim.simulate(12, 5);
    expect(Buffer.from(other.electrodes.buffer)).not.toEqual(Buffer.from(samples[5]!.electrodes.buffer));
  });

  it('every variant can be forced', () => {
    for (const v of VARIANTS) {
      const r = sim.simulate(3, 1, { variant: v });
      expect(r.variant).toBe(v);
      expect(r.name).toContain(`_${v}_`);
      expect(r.params.scar !== null).toBe(v === 'scar');
    }
  });

  it('white noise meets the requested SNR (±1 dB) and leaves Vm and the heart untouched', () => {
    for (const snrDb of [10, 20, 30]) {
      const clean = samples[3]!;
      const noisy = sim.simulate(11, 3, { noise: { snrDb } });
      expect(noisy.vm).toEqual(clean.vm);
      let signalPower = 0;
      let noisePower = 0;
      for (let e = 0; e < N_ELECTRODES; e++) {
        let mean = 0;
        for (let t = 0; t < N_STEPS; t++) mean += clean.electrodes[t * N_ELECTRODES + e]! / N_STEPS;
        for (let t = 0; t < N_STEPS; t++) {
          const i = t * N_ELECTRODES + e;
          signalPower += (clean.electrodes[i]! - mean) ** 2;
          noisePower += (noisy.electrodes[i]! - clean.electrodes[i]!) ** 2;
        }
      }
      expect(Math.abs(10 * Math.log10(signalPower / noisePower) - snrDb)).toBeLessThan(1);
    }
  });

  it('baseline wander and mains hum add the requested kind of signal', () => {
    const clean = samples[4]!;
    const hum = sim.simulate(11, 4, { noise: { mainsHz: 50, mainsMv: 0.1 } });
    const d = Array.from(
      { length: N_STEPS },
      (_, t) => hum.electrodes[t * N_ELECTRODES]! - clean.electrodes[t * N_ELECTRODES]!,
    );
    // A 50 Hz sinusoid repeats every 20 ms.
    for (let t = 0; t + 20 < N_STEPS; t++) expect(d[t + 20]!).toBeCloseTo(d[t]!, 9);
    expect(Math.max(...d)).toBeGreaterThan(0.04);
    const wander = sim.simulate(11, 4, { noise: { baselineWanderMv: 0.2 } });
    const w = Array.from(
      { length: N_STEPS },
      (_, t) => wander.electrodes[t * N_ELECTRODES]! - clean.electrodes[t * N_ELECTRODES]!,
    );
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(0.2);
    expect(Math.max(...w.slice(1).map((x, t) => Math.abs(x - w[t]!)))).toBeLessThan(0.002); // slow
  });
});

describe('simulate: AP redraws and the fixed-AP variant', () => {
  it("the default options are apDraw 0 and ap 'drawn': the same bytes as no options", () => {
    const r = sim.simulate(11, 7, { ap: 'drawn', apDraw: 0 });
    expect(Buffer.from(r.electrodes.buffer)).toEqual(Buffer.from(samples[7]!.electrodes.buffer));
    expect(Buffer.from(r.vm.buffer)).toEqual(Buffer.from(samples[7]!.vm.buffer));
    expect(r.params).toEqual(samples[7]!.params);
  });

  it('a redraw keeps the heart (variant, activation, scar) and changes only the AP parameters', () => {
    for (const i of [0, 1, 2, 3]) {
      const own = samples[i]!;
      const a = sim.simulate(11, i, { apDraw: 1 });
      const b = sim.simulate(11, i, { apDraw: 2 });
      for (const r of [a, b]) {
        expect(r.name).toBe(own.name);
        expect(r.activationMs).toEqual(own.activationMs);
        expect({ ...r.params, ap: null }).toEqual({ ...own.params, ap: null });
        expect(r.params.ap.gKr).not.toBe(own.params.ap.gKr);
        expect(r.vm).not.toEqual(own.vm);
      }
      expect(a.params.ap.gKr).not.toBe(b.params.ap.gKr);
      expect(sim.simulate(11, i, { apDraw: 1 }).vm).toEqual(a.vm); // a redraw is repeatable
    }
    expect(() => sim.simulate(11, 0, { apDraw: -1 })).toThrow(/apDraw must be an integer/);
    expect(() => sim.simulate(11, 0, { apDraw: 1.5 })).toThrow(/apDraw must be an integer/);
  });

  it("apKeep 'upstroke' redraws the AP without changing the first 10 ms of the ECG", () => {
    const change = (a: Float64Array, b: Float64Array, from: number, to: number) => {
      let d = 0;
      let n = 0;
      for (let j = from; j < to; j++) {
        d += (a[j]! - b[j]!) ** 2;
        n += b[j]! ** 2;
      }
      return Math.sqrt(d / n);
    };
    const early = 10 * N_ELECTRODES;
    for (const i of [0, 1, 2]) {
      const own = samples[i]!;
      const kept = sim.simulate(11, i, { apDraw: 1, apKeep: 'upstroke' });
      const all = sim.simulate(11, i, { apDraw: 1 });
      expect(kept.params.ap.peakMv).toBe(own.params.ap.peakMv);
      expect(kept.params.ap.gKr).toBe(all.params.ap.gKr);
      expect(change(kept.electrodes, own.electrodes, 0, early)).toBeLessThan(1e-3);
      expect(change(all.electrodes, own.electrodes, 0, early)).toBeGreaterThan(1e-2);
      expect(change(kept.vm, own.vm, 0, kept.vm.length)).toBeGreaterThan(1e-2);
    }
    expect(() => sim.simulate(11, 0, { apDraw: 1, apKeep: 'peak' as 'none' })).toThrow(
      /apKeep must be one of/,
    );
  });

  it('fixed AP: hearts of different seeds share their AP parameters and keep their own activation', () => {
    const a = sim.simulate(11, 0, { ap: 'fixed', variant: 'normal' });
    const b = sim.simulate(12, 9, { ap: 'fixed', variant: 'normal' });
    expect(a.params.ap).toEqual(b.params.ap);
    expect(a.activationMs).not.toEqual(b.activationMs);
    const own = sim.simulate(11, 0, { variant: 'normal' });
    expect(a.activationMs).toEqual(own.activationMs);
    expect(a.params.ap).not.toEqual(own.params.ap);
    // The redraw number does not matter when nothing is drawn.
    expect(sim.simulate(11, 0, { ap: 'fixed', variant: 'normal', apDraw: 3 }).vm).toEqual(a.vm);
    // As in the drawn ranges, blocks and ectopic beats have a smaller endo–epi gradient.
    expect(sim.simulate(11, 0, { ap: 'fixed', variant: 'lbbb' }).params.ap.endoEpiMs).toBe(25);
    expect(() => sim.simulate(11, 0, { ap: 'random' as 'fixed' })).toThrow(/ap must be one of drawn, fixed/);
  });
});
