/**
 * The simulator's normal scenario against published adult ECG norms, and one beat of a real 12-lead
 * recording (assets/real-ecg/s0010_re, PTB Diagnostic ECG Database) measured by the same code
 * (@ecg-tmp/core measureEcg).
 *
 *   npm run ecg-norms                                   # 200 normal samples, seed 1 → stdout
 *   npm run ecg-norms -- --count 50 --seed 3 --out benchmarks/results/ecg-norms.md
 *
 * Each row: median and 10–90% range over the samples, the share of samples inside the norm, and the
 * real beat's value. Norms: QRS 80–110 ms; frontal axis −30°…+90°; R/S < 1 in V1, > 1 in V5–V6;
 * limb-lead QRS 0.5–2 mV (peak-to-peak; low voltage is < 0.5 mV in every limb lead).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type EcgMeasures,
  LEAD_NAMES,
  type LeadName,
  leadsFromElectrodes,
  measureEcg,
  N_LEADS,
  N_STEPS,
} from '@ecg-tmp/core';
import { createSimulator } from '../src/simulator.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const count = Number(values.count);
const seed = Number(values.seed);
if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer`);

const REAL = new URL('../assets/real-ecg/s0010_re', import.meta.url);

/**
 * Reads the 12 standard leads of a WFDB record stored in format 16 (little-endian int16, signals
 * interleaved) — only what this fixture needs — as channel-major [12, T] mV in LEAD_NAMES order.
 */
function readWfdb16(base: URL): { leads: Float64Array; steps: number; hz: number } {
  const lines = readFileSync(`${base.pathname}.hea`, 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  const [, nSig, hz, nSamp] = lines[0]!.split(/\s+/).map(Number) as [number, number, number, number];
  const sigs = lines.slice(1, 1 + nSig).map((l) => {
    const f = l.split(/\s+/);
    if (f[1] !== '16') throw new Error(`only WFDB format 16 is read, got ${f[1]}`);
    const [, gain = '200', baseline] = /^([\d.]+)(?:\((-?\d+)\))?/.exec(f[2]!) ?? [];
    return { gain: Number(gain), baseline: Number(baseline ?? f[4] ?? 0), name: f[8]!.toLowerCase() };
  });
  const raw = readFileSync(`${base.pathname}.dat`);
  const adu = new Int16Array(raw.buffer, raw.byteOffset, nSig * nSamp);
  const leads = new Float64Array(N_LEADS * nSamp);
  LEAD_NAMES.forEach((name, l) => {
    const c = sigs.findIndex((s) => s.name === name.toLowerCase());
    if (c < 0) throw new Error(`lead ${name} missing from ${base.pathname}.hea`);
    const { gain, baseline } = sigs[c]!;
    for (let t = 0; t < nSamp; t++) leads[l * nSamp + t] = (adu[t * nSig + c]! - baseline) / gain;
  });
  return { leads, steps: nSamp, hz };
}

/** One beat of a long record: [R − 250 ms, R + 550 ms] around the second QRS (steepest-slope peaks). */
function oneBeat(leads: Float64Array, steps: number): { beat: Float64Array; rrMs: number } {
  const vel = new Float64Array(steps);
  for (let t = 1; t < steps; t++) {
    for (let l = 0; l < N_LEADS; l++) vel[t]! += Math.abs(leads[l * steps + t]! - leads[l * steps + t - 1]!);
  }
  const top = vel.reduce((m, v) => Math.max(m, v), 0);
  const peaks: number[] = [];
  for (let t = 1; t < steps - 1; t++) {
    if (vel[t]! < 0.5 * top) continue;
    const last = peaks.at(-1);
    if (last !== undefined && t - last < 300) {
      if (vel[t]! > vel[last]!) peaks[peaks.length - 1] = t;
    } else peaks.push(t);
  }
  const i = peaks.findIndex((p) => p >= 250 && p + 550 <= steps);
  if (i < 0 || peaks.length < 2) throw new Error('no complete beat found');
  const r = peaks[Math.max(i, 1)]!;
  const beat = new Float64Array(N_LEADS * 800);
  for (let l = 0; l < N_LEADS; l++)
    beat.set(leads.subarray(l * steps + r - 250, l * steps + r + 550), l * 800);
  const rr = peaks.slice(1).map((p, k) => p - peaks[k]!);
  rr.sort((a, b) => a - b);
  return { beat, rrMs: rr[rr.length >> 1]! };
}

interface Row {
  readonly name: string;
  readonly norm: string;
  readonly value: (m: EcgMeasures) => number;
  readonly inNorm?: (v: number) => boolean;
  readonly digits: number;
}

const LIMB: readonly LeadName[] = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF'];
const rs = (k: number) => (m: EcgMeasures) => m.precordial[k]!.rsRatio;
const ROWS: readonly Row[] = [
  {
    name: 'QRS duration (ms)',
    norm: '80–110',
    value: (m) => m.qrsDurationMs,
    inNorm: (v) => v >= 80 && v <= 110,
    digits: 0,
  },
  {
    name: 'frontal axis (°)',
    norm: '−30…+90',
    value: (m) => m.axisDeg,
    inNorm: (v) => v >= -30 && v <= 90,
    digits: 0,
  },
  { name: 'QT (ms)', norm: '(rate-dependent)', value: (m) => m.qtMs, digits: 0 },
  ...LIMB.map(
    (lead): Row => ({
      name: `QRS p-p ${lead} (mV)`,
      norm: '0.5–2',
      value: (m) => m.qrsAmplitudeMv[lead],
      inNorm: (v) => v >= 0.5 && v <= 2,
      digits: 2,
    }),
  ),
  {
    name: 'largest limb-lead QRS (mV)',
    norm: '0.5–2',
    value: (m) => Math.max(...LIMB.map((l) => m.qrsAmplitudeMv[l])),
    inNorm: (v) => v >= 0.5 && v <= 2,
    digits: 2,
  },
  ...(['V1', 'V2', 'V3', 'V4', 'V5', 'V6'] as const).map(
    (lead): Row => ({
      name: `QRS p-p ${lead} (mV)`,
      norm: '',
      value: (m) => m.qrsAmplitudeMv[lead],
      digits: 2,
    }),
  ),
  ...[0, 1, 2, 3, 4, 5].map(
    (k): Row => ({
      name: `R/S V${k + 1}`,
      norm: k === 0 ? '< 1' : k >= 4 ? '> 1' : '',
      value: rs(k),
      ...(k === 0 ? { inNorm: (v: number) => v < 1 } : k >= 4 ? { inNorm: (v: number) => v > 1 } : {}),
      digits: 2,
    }),
  ),
];

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = q * (sorted.length - 1);
  const lo = Math.floor(i);
  const hi = Math.min(sorted.length - 1, lo + 1);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a === b ? a : a + (b - a) * (i - lo);
}

const fmt = (v: number, digits: number) =>
  Number.isNaN(v) ? '—' : v === Number.POSITIVE_INFINITY ? '∞' : v.toFixed(digits).replace('-', '−');

// 1. The simulator's normal scenario.
const sim = createSimulator();
const measures: EcgMeasures[] = [];
for (let i = 0; i < count; i++) {
  const s = sim.simulate(seed, i, { variant: 'normal' });
  measures.push(measureEcg(leadsFromElectrodes(s.electrodes, N_STEPS)));
}
// 2. One real beat.
const real = readWfdb16(REAL);
if (real.hz !== 1000) throw new Error(`expected a 1 kHz record, got ${real.hz} Hz`);
const { beat, rrMs } = oneBeat(real.leads, real.steps);
const realM = measureEcg(beat);

const lines = [
  `Simulator normal scenario: ${count} samples (seed ${seed}), median [10–90%], share inside the norm; `,
  `real: one beat of PTB s0010_re (RR ${rrMs} ms), measured by the same code.`,
  '',
  '| measure | adult norm | simulator median [10–90%] | in norm | real s0010_re |',
  '| --- | --- | --- | --- | --- |',
];
for (const row of ROWS) {
  const all = measures.map(row.value);
  const v = all.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const share = row.inNorm ? `${Math.round((100 * v.filter(row.inNorm).length) / all.length)}%` : '';
  const missing = all.length - v.length;
  const range = `${fmt(quantile(v, 0.5), row.digits)} [${fmt(quantile(v, 0.1), row.digits)}, ${fmt(quantile(v, 0.9), row.digits)}]${missing ? ` (${missing} n/m)` : ''}`;
  lines.push(`| ${row.name} | ${row.norm} | ${range} | ${share} | ${fmt(row.value(realM), row.digits)} |`);
}
const text = `${lines.join('\n')}\n`;
process.stdout.write(text);
if (values.out) writeFileSync(values.out, text);
