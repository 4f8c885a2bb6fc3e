import { N_ELECTRODES, N_STEPS } from '@ecg-tmp/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { electrodesDense } from './ecg.ts';
import { createSimulator, type Simulator } from './simulator.ts';

let sim: Simulator;
beforeAll(() => {
  sim = createSimulator();
});

describe('pseudo-ECG', () => {
  it('each lead-field row sums to zero (a uniform Vm has no gradient)', () => {
    const N = sim.mesh.nodeCount;
    for (let e = 0; e < N_ELECTRODES; e++) {
      let sum = 0;
      let abs = 0;
      for (let n = 0; n < N; n++) {
        sum += sim.leadField[e * N + n]!;
        abs += Math.abs(sim.leadField[e * N + n]!);
      }
      expect(Math.abs(sum)).toBeLessThan(1e-12 * abs + 1e-15);
    }
  });

  it('the binned fast path equals the dense product L · Vm over all nodes', () => {
    for (const variant of ['normal', 'scar'] as const) {
      const r = sim.simulate(5, 2, { variant, includeNodeVm: true });
      const dense = electrodesDense(sim.leadField, r.nodeVm!, N_STEPS);
      let scale = 0;
      for (const v of dense) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < dense.length; i++)
        expect(Math.abs(r.electrodes[i]! - dense[i]!)).toBeLessThan(1e-9 * scale);
    }
  });

  it('a wave approaching an electrode is positive there, a receding one negative', () => {
    // Activation starting at the node nearest V6 recedes from V6 and approaches the far side.
    const N = sim.mesh.nodeCount;
    const v6 = sim.placement.electrodesMesh[9]!;
    let near = 0;
    let far = 0;
    const d = (n: number) =>
      Math.hypot(
        sim.mesh.points[3 * n]! - v6[0],
        sim.mesh.points[3 * n + 1]! - v6[1],
        sim.mesh.points[3 * n + 2]! - v6[2],
      );
    for (let n = 1; n < N; n++) {
      if (d(n) < d(near)) near = n;
      if (d(n) > d(far)) far = n;
    }
    const L = sim.leadField;
    // Vm = +1 on the nodes closer to the start than a front at radius ρ, −1 beyond: a front moving away.
    const p = sim.mesh.points;
    const fromNear = (n: number) =>
      Math.hypot(
        p[3 * n]! - p[3 * near]!,
        p[3 * n + 1]! - p[3 * near + 1]!,
        p[3 * n + 2]! - p[3 * near + 2]!,
      );
    let receding = 0;
    let approaching = 0;
    for (let n = 0; n < N; n++) {
      receding += L[9 * N + n]! * (fromNear(n) < 30 ? 100 : 0);
      approaching += L[9 * N + n]! * (fromNear(n) > 30 ? 100 : 0);
    }
    // Activated (depolarised) tissue near the electrode, front moving away → negative; the mirror
    // situation (activated far side, front coming closer) → positive.
    expect(receding).toBeLessThan(0);
    expect(approaching).toBeGreaterThan(0);
    expect(far).not.toBe(near);
  });
});
