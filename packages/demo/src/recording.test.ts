/**
 * Recording uploads: the real PTB record s0010_re as the page gets it (File objects) gives its 13
 * beats, a CSV recording at the page's rate with 8 leads gets the other four derived, and a file the
 * page cannot use is a FileInputError that says what is wrong.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeRecordingCsv, type LeadName, parseWfdb, resample } from '@ecg-tmp/core';
import { describe, expect, it } from 'vitest';
import { FileInputError } from './input.ts';
import { isRecordingUpload, readRecordingUpload } from './recording.ts';

const REAL = join(import.meta.dirname, '../../simulator/assets/real-ecg');
const hea = new Uint8Array(await readFile(join(REAL, 's0010_re.hea')));
const dat = new Uint8Array(await readFile(join(REAL, 's0010_re.dat')));
const reference: number[] = JSON.parse(await readFile(join(REAL, 's0010_re.qrs.json'), 'utf8')).qrsOnsetsMs;

describe('recording uploads', () => {
  it('are told from window uploads by their files', () => {
    expect(isRecordingUpload(['s0010_re.hea', 's0010_re.dat'])).toBe(true);
    expect(isRecordingUpload(['REC.EDF'])).toBe(true);
    expect(isRecordingUpload(['pECGData_1.npy', 'VmData_1.npy'])).toBe(false);
    expect(isRecordingUpload(['ecg.csv'])).toBe(false);
  });

  it('read s0010_re from its .hea and .dat: 13 beats at the reference onsets, windows ready for the model', async () => {
    const up = await readRecordingUpload(
      [new File([hea], 's0010_re.hea'), new File([dat], 's0010_re.dat')],
      500,
    );
    expect(up.name).toBe('s0010_re.hea');
    expect(up.derived).toEqual([]);
    const { beats, skipped, filtered } = up.extraction;
    expect(skipped).toEqual([]);
    expect(beats).toHaveLength(13);
    for (const [i, b] of beats.entries()) {
      expect(Math.abs(b.onsetMs - reference[i]!)).toBeLessThanOrEqual(5);
      expect(b.window.shape).toEqual([1, 12, 500]);
    }
    expect(filtered.shape).toEqual([1, 12, 10_000]);
  });

  it('read a CSV recording at the page’s rate, deriving III, aVR, aVL and aVF from I and II', async () => {
    const leads: LeadName[] = ['I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
    const whole = parseWfdb(hea, { 's0010_re.dat': dat }, 's0010_re.hea');
    const down = resample(
      leads.map((n) => whole.leads[n]!),
      1000,
      500,
    );
    const csv = encodeRecordingCsv({
      rate: 500,
      length: down[0]!.length,
      leads: Object.fromEntries(leads.map((n, i) => [n, down[i]!])),
      source: 'r.csv',
      warnings: [],
    });
    const up = await readRecordingUpload([new File([csv], 'r.csv')], 500);
    expect(up.recording.rate).toBe(500);
    expect(up.derived).toEqual(['III', 'aVR', 'aVL', 'aVF']);
    expect(up.extraction.beats).toHaveLength(13);
  });

  it('refuse what the page cannot use, saying why', async () => {
    const cases: [File[], RegExp][] = [
      [
        [new File([hea], 's0010_re.hea')],
        /names the data file s0010_re\.dat, which is not among the files given/,
      ],
      [[new File([dat], 's0010_re.dat')], /needs its header/],
      [[new File(['I,II\n1,2\n'], 'r.csv')], /lacks leads V1, V2, V3, V4, V5, V6/],
    ];
    for (const [files, message] of cases) {
      const err = await readRecordingUpload(files, 500).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileInputError);
      expect((err as Error).message).toMatch(message);
    }
  });
});
