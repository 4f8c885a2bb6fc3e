/**
 * Where QRS onset falls in the simulator's 500 ms windows, by the rule core's beat extractor uses on
 * real recordings (qrsOnsetInWindow: spatial velocity, measureEcg's 8% / 8 ms onset), so that real beats
 * are cut to start the same way: core's QRS_ONSET_IN_WINDOW_MS is this script's median.
 *
 *   npx tsx packages/simulator/scripts/qrs-onset.ts                      # 2000 samples, seed 1 → stdout
 *   npx tsx packages/simulator/scripts/qrs-onset.ts --count 500 --seed 3
 *
 * Samples are the training set's own (seed 1 is data/synthetic-d3-s1-n16117's first 2000, all classes).
 */

import { parseArgs } from 'node:util';
import { leadsFromElectrodes, N_LEADS, N_STEPS, qrsOnsetInWindow, signal } from '@ecg-tmp/core';
import { createSimulator } from '../src/simulator.ts';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '2000' }, seed: { type: 'string', default: '1' } },
});
const count = Number(values.count);
const seed = Number(values.seed);
if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive integer');

const sim = createSimulator();
const byClass = new Map<string, number[]>();
let unplaced = 0;
for (let i = 0; i < count; i++) {
  const s = sim.simulate(seed, i);
  const onset = qrsOnsetInWindow(signal(leadsFromElectrodes(s.electrodes, N_STEPS), [1, N_LEADS, N_STEPS]));
  if (onset === undefined) {
    unplaced++;
    continue;
  }
  for (const key of ['all', s.variant]) byClass.set(key, [...(byClass.get(key) ?? []), onset]);
}

const q = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
console.log(
  `QRS onset in the simulator's windows (ms from the window's start), seed ${seed}, ${count} samples`,
);
console.log('class     n     median  10–90%   1–99%    min–max');
for (const [key, list] of [...byClass].sort(([a], [b]) =>
  a === 'all' ? -1 : b === 'all' ? 1 : a.localeCompare(b),
)) {
  const s = [...list].sort((a, b) => a - b);
  console.log(
    `${key.padEnd(9)} ${String(s.length).padEnd(5)} ${String(q(s, 0.5)).padEnd(7)} ${q(s, 0.1)}–${q(s, 0.9)}`.padEnd(
      34,
    ) +
      `${q(s, 0.01)}–${q(s, 0.99)}`.padEnd(9) +
      `${s[0]}–${s.at(-1)}`,
  );
}
console.log(`no onset placed: ${unplaced}`);
