/**
 * `npm run reconstruct` (scripts/reconstruct.ts) on WASM in Node with the repository's models: the real
 * PTB record s0010_re (13 beats), a generated record as EDF at 500 Hz and as an 8-lead CSV (beats
 * where they were put), window files (.npy, 12 × 500 .csv), and the errors, which name what is wrong
 * and write nothing. One run goes through the root package.json's script, the rest call main().
 */

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  encodeEdf,
  encodeNpy,
  encodeRecordingCsv,
  LEAD_NAMES,
  type LeadName,
  parseNpy,
  type Recording,
  resample,
} from '@ecg-tmp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../scripts/reconstruct.ts';
import { fittedModels } from './fitted-model.ts';

const ROOT = join(import.meta.dirname, '../../..');
const RECORD = join(ROOT, 'packages/simulator/assets/real-ecg/s0010_re.hea');
const reference: number[] = JSON.parse(
  await readFile(join(ROOT, 'packages/simulator/assets/real-ecg/s0010_re.qrs.json'), 'utf8'),
).qrsOnsetsMs;
/** A simulated 12 × 500 window (the edge's inference fixture): 0 mV at both ends, QRS onset 7 ms in. */
const WINDOW = new Float32Array(
  new Uint8Array(await readFile(join(ROOT, 'packages/edge-api/test/fixtures/ecg.bin'))).buffer,
  0,
  12 * 500,
);
/** Where the generated record's windows start, ms. */
const PLACED = [1000, 1800, 2600, 3400, 4200, 5000, 5800, 6600];

interface BeatsJson {
  format: string;
  rateHz: number;
  leads: { recorded: LeadName[]; derived: LeadName[] };
  model: string;
  version: string;
  tmp: { shape: number[] };
  inDistribution: { statistics: boolean; counts: Record<string, number>; note: string };
  beats: {
    index: number;
    onsetMs: number | null;
    rrMs: number | null;
    activationMs: (number | null)[];
    repolarisationMs: (number | null)[];
    inDistribution: { status: string; distance: number | null; message: string; farthest: unknown[] };
  }[];
  skipped: { atMs: number; reason: string; detail: string }[];
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecg-reconstruct-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs main() with its output captured. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function results(
  out: string,
): Promise<{ json: BeatsJson; shape: readonly number[]; data: Float32Array }> {
  const json = JSON.parse(await readFile(join(out, 'beats.json'), 'utf8')) as BeatsJson;
  const npy = parseNpy(new Uint8Array(await readFile(join(out, 'tmp.npy'))));
  expect(npy.dtype).toBe('<f4');
  return { json, shape: npy.shape, data: npy.data as Float32Array };
}

/** The simulated window placed at `placed` (ms) in `T` ms of 0 mV, at 1 kHz, down-sampled to `rate`. */
function generated(
  rate: number,
  leads: readonly LeadName[] = LEAD_NAMES,
  placed: readonly number[] = PLACED,
  T = 8000,
): Recording {
  const full = leads.map((name) => {
    const l = LEAD_NAMES.indexOf(name);
    const data = new Float32Array(T);
    for (const at of placed) data.set(WINDOW.subarray(l * 500, l * 500 + Math.min(500, T - at)), at);
    return data;
  });
  const down = resample(full, 1000, rate);
  return {
    rate,
    length: down[0]!.length,
    leads: Object.fromEntries(leads.map((name, i) => [name, down[i]!])),
    source: 'generated',
    warnings: [],
  };
}

describe('npm run reconstruct', () => {
  it('on s0010_re.hea (through the package.json script): 13 beats, tmp.npy [13, 75, 500], beats.json', async () => {
    const out = join(dir, 's0010');
    const { stdout } = await promisify(execFile)(
      'npm',
      ['run', '-s', 'reconstruct', '--', RECORD, '--out', out],
      {
        cwd: ROOT,
      },
    );
    expect(stdout).toMatch(/13 beats, 0 skipped; RR median \d+ ms/);
    const { json, shape, data } = await results(out);
    // Not checked while the shipped manifest has no statistics; scored (13 beats in some band) after.
    const shipped = JSON.parse(
      await readFile(join(ROOT, 'models/cnn-lstm', json.version, 'manifest.json'), 'utf8'),
    ) as { inDistribution?: unknown };
    expect(json.inDistribution.statistics).toBe(shipped.inDistribution !== undefined);
    if (shipped.inDistribution === undefined) {
      expect(stdout).toMatch(/in-distribution: 13 not-checked\n/);
      expect(json.inDistribution.counts['not-checked']).toBe(13);
    } else {
      expect(stdout).toMatch(/in-distribution: .*\d+ (in-range|unusual|out-of-range)/);
      expect(json.inDistribution.counts['not-checked']).toBe(0);
    }
    expect(shape).toEqual([13, 75, 500]);
    expect(data.every(Number.isFinite)).toBe(true);
    expect(json.format).toBe('wfdb');
    expect(json.model).toBe('cnn-lstm');
    expect(json.tmp.shape).toEqual([13, 75, 500]);
    expect(json.skipped).toEqual([]);
    expect(json.beats).toHaveLength(13);
    for (const [i, beat] of json.beats.entries()) {
      expect(beat.index).toBe(i);
      expect(Math.abs(beat.onsetMs! - reference[i]!)).toBeLessThanOrEqual(5);
      expect(beat.rrMs).toBe(i === 0 ? null : beat.onsetMs! - json.beats[i - 1]!.onsetMs!);
      expect(beat.activationMs).toHaveLength(75);
      expect(beat.repolarisationMs).toHaveLength(75);
      expect(beat.inDistribution.status).toMatch(
        shipped.inDistribution === undefined
          ? /^not-checked$/
          : /^(in-range|unusual|out-of-range|not-measurable)$/,
      );
      expect(beat.inDistribution.message).not.toBe('');
    }
  }, 120_000);

  it('on a generated record as EDF at 500 Hz and as an 8-lead CSV: the beats where they were put', async () => {
    const edf = join(dir, 'generated.edf');
    await writeFile(edf, encodeEdf(generated(500)));
    const csv = join(dir, 'generated.csv');
    const eight: LeadName[] = ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
    await writeFile(csv, encodeRecordingCsv(generated(500, eight)));
    for (const [file, args, derived] of [
      [edf, [], []],
      [csv, ['--rate', '500', '--model', 'cnn'], ['III', 'aVR', 'aVL', 'aVF']],
    ] as const) {
      const out = join(dir, `out-${file.slice(-3)}`);
      const run = await cli(file, '--out', out, ...args);
      expect(run.err).toBe('');
      expect(run.code).toBe(0);
      expect(run.out).toMatch(/at 500 Hz, 8\.0 s/);
      const { json, shape } = await results(out);
      expect(json.rateHz).toBe(500);
      expect(json.leads.derived).toEqual(derived);
      expect(shape).toEqual([PLACED.length, 75, 500]);
      // The window's QRS onset falls 7 ms in; resampled to 500 Hz and back, within a few ms of it.
      const onsets = json.beats.map((b) => b.onsetMs!);
      for (const [i, at] of PLACED.entries()) expect(Math.abs(onsets[i]! - (at + 7))).toBeLessThanOrEqual(4);
    }
  }, 120_000);

  it('on window files: a [2, 12, 500] .npy is 2 beats, a 12 × 500 .csv one, without onsets', async () => {
    const npy = join(dir, 'windows.npy');
    const two = new Float32Array(2 * 12 * 500);
    two.set(WINDOW);
    // The second 30 ms later (the models normalise each lead's range, so a scaled copy would not differ).
    for (let l = 0; l < 12; l++) two.set(WINDOW.subarray(l * 500, l * 500 + 470), (12 + l) * 500 + 30);
    await writeFile(npy, encodeNpy(two, [2, 12, 500]));
    const csv = join(dir, 'window.csv');
    const rows = Array.from({ length: 500 }, (_, t) =>
      LEAD_NAMES.map((_, l) => WINDOW[l * 500 + t]!.toFixed(5)).join(','),
    );
    await writeFile(csv, `${LEAD_NAMES.join(',')}\n${rows.join('\n')}\n`);
    for (const [file, count] of [
      [npy, 2],
      [csv, 1],
    ] as const) {
      const out = join(dir, `out-window-${count}`);
      const run = await cli(file, '--out', out);
      expect(run.code).toBe(0);
      const { json, shape, data } = await results(out);
      expect(shape).toEqual([count, 75, 500]);
      expect(json.beats.map((b) => b.onsetMs)).toEqual(Array(count).fill(null));
      if (count === 2) expect(data.subarray(0, 75 * 500)).not.toEqual(data.subarray(75 * 500));
    }
  }, 120_000);

  it('scores each beat against a model with statistics: a simulated window in range, ×1000 out of range, and says so', async () => {
    const fitted = await fittedModels('cnn-lstm');
    try {
      const window = fitted.fresh(0);
      const two = new Float32Array(2 * 12 * 500);
      two.set(window);
      two.set(
        window.map((v) => v * 1000),
        12 * 500,
      );
      const npy = join(dir, 'scored.npy');
      await writeFile(npy, encodeNpy(two, [2, 12, 500]));
      const out = join(dir, 'out-scored');
      const run = await cli(npy, '--out', out, '--models', fitted.dir);
      expect(run.err).toBe('');
      expect(run.code).toBe(0);
      expect(run.out).toMatch(
        /\nin-distribution: 1 in-range, 1 out-of-range; beat 2: Unlike the ECGs this model was trained on: .*Do not rely on this reconstruction\./,
      );
      const { json } = await results(out);
      expect(json.inDistribution.statistics).toBe(true);
      expect(json.inDistribution.counts).toEqual({
        'in-range': 1,
        unusual: 0,
        'out-of-range': 1,
        'not-checked': 0,
        'not-measurable': 0,
      });
      expect(json.beats.map((b) => b.inDistribution.status)).toEqual(['in-range', 'out-of-range']);
      expect(json.beats[1]!.inDistribution.distance).toBeGreaterThan(fitted.stats.threshold);
      expect(json.beats[1]!.inDistribution.farthest).toHaveLength(3);
    } finally {
      await fitted.remove();
    }
  }, 120_000);

  it('names what is wrong, exits non-zero and writes nothing', async () => {
    // 3 s with a beat at each end, both windows cut short by the record; and 3 s of nothing.
    const ends = join(dir, 'cut.csv');
    await writeFile(ends, encodeRecordingCsv(generated(1000, LEAD_NAMES, [0, 2700], 3000)));
    const flat = join(dir, 'flat.csv');
    await writeFile(flat, encodeRecordingCsv(generated(1000, LEAD_NAMES, [], 3000)));
    const notes = join(dir, 'notes.txt');
    await writeFile(notes, 'hello');
    const out = join(dir, 'must-stay-empty');
    const cases: [string[], number, RegExp][] = [
      [[join(dir, 'missing.hea')], 1, /missing\.hea: no such file/],
      [
        [notes],
        1,
        /notes\.txt: unsupported file type '\.txt'\. Expected one of: \.hea, \.dat, \.edf, \.csv, \.npy/,
      ],
      [
        [RECORD, '--model', 'resnet'],
        1,
        /unknown model 'resnet'\. Expected one of: cnn, cnn-lstm, cnn-lstm-small, transformer/,
      ],
      [[RECORD, '--version', '9.9.9'], 1, /version '9\.9\.9' was not found/],
      [
        [ends, '--rate', '1000'],
        1,
        /cut\.csv: no beats found: 2 QRS detected, all skipped \(\d+ ms near_start, \d+ ms near_end\)/,
      ],
      [[flat, '--rate', '1000'], 1, /the recording is flat/],
      [[flat], 1, /flat\.csv: .*for a recording give --rate HZ/],
      [[RECORD, '--rate', 'fast'], 2, /--rate must be a positive number of Hz, got 'fast'/],
      [[RECORD, '--colour'], 2, /Unknown option '--colour'/],
      [[], 2, /no RECORD given\nusage: npm run reconstruct/],
    ];
    for (const [argv, code, message] of cases) {
      const run = await cli(...argv, '--out', out);
      expect(run.code, argv.join(' ')).toBe(code);
      expect(run.err).toMatch(message);
    }
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  }, 120_000);
});
